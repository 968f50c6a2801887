# One image for both programs: the node (default) and the console client (`ingest`).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish Node/Ingest.Node.csproj -c Release -o /app/node \
 && dotnet publish Client/Ingest.Client.csproj -c Release -o /app/client

FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /app
COPY --from=build /app /app
RUN printf '#!/bin/sh\nexec dotnet /app/client/Ingest.Client.dll "$@"\n' > /usr/local/bin/ingest \
 && printf '#!/bin/sh\nexec dotnet /app/node/Ingest.Node.dll "$@"\n' > /usr/local/bin/ingest-node \
 && chmod +x /usr/local/bin/ingest /usr/local/bin/ingest-node
USER app
# SIGTERM (docker stop) makes a node hand its units back at once.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ingest-node"]
