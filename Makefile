# Two commands on a fresh Debian 12 machine with the .NET 10 SDK:
#   make demo   local PostgreSQL + sample data + two silos + an import with live progress
#   make test   everything the tests need, then the whole suite
.PHONY: demo test build bench clean

demo:
	bin/demo

test:
	bin/test

build:
	dotnet build OrleansIngest.sln -c Release -nologo

bench:
	bin/bench

clean:
	bin/local-postgres stop
	bin/local-rabbitmq stop
	rm -rf .local
