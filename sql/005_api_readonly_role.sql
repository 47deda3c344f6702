-- The read-only role the API and dashboard connect as: it can SELECT and nothing else.
-- Roles belong to the whole server while this migration runs once per database, so creating the role is guarded (and
-- two databases migrating at once may both try: the loser's duplicate is ignored). The password is the documented
-- local default (README, "API and dashboard"); on a shared server, change it with ALTER ROLE and set API_DATABASE_URL.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trendfolio_api') THEN
        CREATE ROLE trendfolio_api LOGIN PASSWORD 'trendfolio_api' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO trendfolio_api', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO trendfolio_api;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO trendfolio_api;
-- Tables that later migrations create (as the role that runs the migrations) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO trendfolio_api;
