#!/bin/sh
# Used by compose.yaml's `migrate` service: apply migrations as the owner, then let the three roles log in.
set -eu
rungate-control migrate
psql "$RUNGATE_DATABASE_URL" -v ON_ERROR_STOP=1 -q \
  -v pc="$PG_CONTROL_PASSWORD" -v pd="$PG_DATA_PASSWORD" -v pp="$PG_PLATFORM_PASSWORD" <<'SQL'
ALTER ROLE rungate_control LOGIN PASSWORD :'pc';
ALTER ROLE rungate_data LOGIN PASSWORD :'pd';
ALTER ROLE rungate_platform LOGIN PASSWORD :'pp';
SQL
