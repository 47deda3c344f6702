#!/bin/sh
# Run once by the postgres image on an empty data directory, after initdb.sql: the read-only role of the API and the
# dashboard. SELECT on every table POSTGRES_USER creates in the warehouse from now on (the migrations run later).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader="$TRENDFOLIO_READER_USER" -v password="$TRENDFOLIO_READER_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE :"db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
