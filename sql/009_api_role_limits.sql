-- The API role reads the warehouse and nothing else, within bounds; the warehouse is reachable only by the roles
-- granted it (005 grants CONNECT to trendfolio_api).
--
-- Only the warehouse's owner (or a superuser) can take a database's privileges from PUBLIC: say so rather than leave
-- it open.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
       AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'the role that migrates (%) must own the warehouse database %', current_user, current_database();
    END IF;
    -- Nobody but the owner and the roles granted CONNECT reaches this database; nobody but the owner makes TEMP
    -- tables in it (the API role made a 56 MB one).
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

-- Roles belong to the whole server and this runs once per database: set the limits only where they differ, so a
-- second database's migration does not update the role again (two at once would collide on the catalog row).
-- CONNECTION LIMIT keeps the API from taking the connections the nightly run needs (max_connections is 200 on the
-- embedded server); the timeouts bound every query it sends (a lock held on a table must not stall the API's threads).
DO $$
DECLARE
    wanted text[] := ARRAY['statement_timeout=15s', 'lock_timeout=5s', 'idle_in_transaction_session_timeout=60s'];
    api record;
BEGIN
    SELECT rolconnlimit, coalesce(rolconfig, '{}') AS config INTO api FROM pg_roles WHERE rolname = 'trendfolio_api';
    IF api.rolconnlimit <> 40 THEN
        ALTER ROLE trendfolio_api CONNECTION LIMIT 40;
    END IF;
    IF NOT api.config @> wanted THEN
        ALTER ROLE trendfolio_api SET statement_timeout = '15s';
        ALTER ROLE trendfolio_api SET lock_timeout = '5s';
        ALTER ROLE trendfolio_api SET idle_in_transaction_session_timeout = '60s';
    END IF;
END
$$;
