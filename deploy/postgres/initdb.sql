-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d), as POSTGRES_USER, in
-- POSTGRES_DB (the warehouse). Dagster's and Airflow's own storage live in their own databases on the same server;
-- on a managed server create these two databases once by hand. The warehouse schema comes from `trendfolio migrate`.
CREATE DATABASE dagster;
CREATE DATABASE airflow;
