#!/bin/sh
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d) as POSTGRES_USER, the
# bootstrap superuser, which nothing else uses. It creates the warehouse owner `trendfolio` as an ordinary role (it
# creates the read-only API role in the migrations, hence CREATEROLE), hands it the warehouse (POSTGRES_DB) and
# creates Dagster's and Airflow's databases for it; no database is reachable by roles that were not granted it (the
# migrations grant the API role the warehouse only). On a managed server do the same once by hand.
# The embedded stack does the same in trendfolio/stack/postgres.py (PROVISION_SQL).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner_password="$TRENDFOLIO_OWNER_PASSWORD" -v warehouse="$POSTGRES_DB" <<'SQL'
CREATE ROLE trendfolio LOGIN CREATEROLE PASSWORD :'owner_password';
ALTER DATABASE :"warehouse" OWNER TO trendfolio;
CREATE DATABASE dagster OWNER trendfolio;
CREATE DATABASE airflow OWNER trendfolio;
REVOKE CONNECT, TEMPORARY ON DATABASE postgres, template1, dagster, airflow FROM PUBLIC;
SQL
