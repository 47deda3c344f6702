-- What a collection asked its source for after a session's close and could not store: nothing came back, or only rows
-- validation quarantined (those are in ops_dead_letters). With the stored rows this tells a re-run of the same night
-- that there is nothing left to ask the source for (trendfolio/collect.py: already_collected). Deleting a table's
-- rows here makes the next run ask again.
CREATE TABLE IF NOT EXISTS ops_collection_gaps (
    table_name   text        NOT NULL,
    ticker       text        NOT NULL,
    session_date date        NOT NULL,
    source       text        NOT NULL,
    asked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, ticker, session_date)
);
