-- Each (ticker, session) a collection asset asked its source for, written only after the run's ingest completed
-- (reconciled): when, and whether a row for it is stored (false: the source had nothing, or only rows validation
-- quarantined, which are in ops_dead_letters). A re-run of the same night whose pairs were all fetched after the
-- session's close, and whose stored rows are still there, has nothing to ask the source for
-- (trendfolio/collect.py: already_collected). Deleting a table's rows here makes the next run ask again.
CREATE TABLE IF NOT EXISTS ops_collection_fetches (
    table_name   text        NOT NULL,
    ticker       text        NOT NULL,
    session_date date        NOT NULL,
    source       text        NOT NULL,
    stored       boolean     NOT NULL,
    fetched_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, ticker, session_date)
);
