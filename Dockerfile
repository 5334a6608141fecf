# Multi-stage build: compile with the Swift toolchain, run on a slim Debian with only the runtime libraries.
FROM swift:6.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis-dev libzstd-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts/lib.sh scripts/build-release scripts/hot-functions.txt ./scripts/
RUN scripts/build-release \
 && mkdir -p /out && cp "$(scripts/build-release --show-bin-path)"/rungate-* /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis0.14 libzstd1 ca-certificates postgresql-client curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app rungate \
 && mkdir -p /var/lib/rungate/spool && chown -R rungate /var/lib/rungate
WORKDIR /app
COPY --from=build /out/ /usr/local/bin/
COPY migrations ./migrations
COPY scripts/compose-migrate.sh ./compose-migrate.sh
USER rungate
ENV RUNGATE_HOST=0.0.0.0 RUNGATE_MIGRATIONS_DIR=/app/migrations RUNGATE_SPOOL_DIR=/var/lib/rungate/spool
EXPOSE 8080 8081 8082 9090
CMD ["rungate-data"]
