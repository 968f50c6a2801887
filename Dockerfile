# One image for both programs: the silo (default) and the console client (`ingest`).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish Silo/Ingest.Silo.csproj -c Release -o /app/silo \
 && dotnet publish Client/Ingest.Client.csproj -c Release -o /app/client

# The silo serves its dashboard with ASP.NET Core: the aspnet image (the runtime and ASP.NET Core).
FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app /app
RUN printf '#!/bin/sh\nexec dotnet /app/client/Ingest.Client.dll "$@"\n' > /usr/local/bin/ingest \
 && printf '#!/bin/sh\nexec dotnet /app/silo/Ingest.Silo.dll "$@"\n' > /usr/local/bin/ingest-silo \
 && chmod +x /usr/local/bin/ingest /usr/local/bin/ingest-silo
USER app
# Silo-to-silo and client gateway ports (INGEST_SILO_PORT, INGEST_GATEWAY_PORT).
EXPOSE 11111 30000 8080
# SIGTERM (docker stop) makes a silo hand its units back at once and leave the cluster.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ingest-silo"]
