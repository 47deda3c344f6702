-- Trendfolio warehouse schema. Primary keys make every re-run an upsert or a replace, never a duplicate;
-- CHECK constraints reject rows that cannot be market data, whatever path they came by.

CREATE TABLE IF NOT EXISTS collected_01_daily_etf_ohlc (
    ticker        text             NOT NULL CHECK (ticker ~ '^[A-Z][A-Z0-9.\-]{0,9}$'),
    trade_date    date             NOT NULL,
    etf_role      text             NOT NULL CHECK (etf_role IN ('benchmark', 'sector')),
    open          double precision NOT NULL CHECK (open > 0),
    high          double precision NOT NULL CHECK (high > 0),
    low           double precision NOT NULL CHECK (low > 0),
    close         double precision NOT NULL CHECK (close > 0),
    adj_close     double precision NOT NULL CHECK (adj_close > 0),
    volume        bigint           NOT NULL CHECK (volume >= 0),
    source        text             NOT NULL CHECK (source IN ('synthetic', 'replay', 'yfinance')),
    collected_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (ticker, trade_date),
    CHECK (high >= low AND high >= open AND high >= close AND low <= open AND low <= close)
);
CREATE INDEX IF NOT EXISTS collected_01_daily_etf_ohlc_date_idx ON collected_01_daily_etf_ohlc (trade_date);

CREATE TABLE IF NOT EXISTS collected_04_etf_holdings (
    etf_ticker      text             NOT NULL CHECK (etf_ticker ~ '^[A-Z][A-Z0-9.\-]{0,9}$'),
    as_of_date      date             NOT NULL,  -- the fetch date: Yahoo gives holdings without an as-of date
    holding_ticker  text             NOT NULL CHECK (holding_ticker ~ '^[A-Z][A-Z0-9.\-]{0,9}$'),
    holding_name    text,
    weight          double precision NOT NULL CHECK (weight > 0 AND weight <= 1),
    source          text             NOT NULL CHECK (source IN ('synthetic', 'replay', 'yfinance')),
    collected_at    timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (etf_ticker, as_of_date, holding_ticker)
);

CREATE TABLE IF NOT EXISTS collected_06_daily_stock_history (
    ticker        text             NOT NULL CHECK (ticker ~ '^[A-Z][A-Z0-9.\-]{0,9}$'),
    trade_date    date             NOT NULL,
    open          double precision NOT NULL CHECK (open > 0),
    high          double precision NOT NULL CHECK (high > 0),
    low           double precision NOT NULL CHECK (low > 0),
    close         double precision NOT NULL CHECK (close > 0),
    adj_close     double precision NOT NULL CHECK (adj_close > 0),
    volume        bigint           NOT NULL CHECK (volume >= 0),
    source        text             NOT NULL CHECK (source IN ('synthetic', 'replay', 'yfinance')),
    collected_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (ticker, trade_date),
    CHECK (high >= low AND high >= open AND high >= close AND low <= open AND low <= close)
);
CREATE INDEX IF NOT EXISTS collected_06_daily_stock_history_date_idx ON collected_06_daily_stock_history (trade_date);

CREATE TABLE IF NOT EXISTS analytics_03_trending_etfs (
    session_date  date             NOT NULL,
    ticker        text             NOT NULL,
    etf_role      text             NOT NULL CHECK (etf_role IN ('benchmark', 'sector')),
    adj_close     double precision NOT NULL CHECK (adj_close > 0),
    ret_5         double precision,
    ret_10        double precision,
    ret_20        double precision,
    ret_60        double precision,
    excess_5      double precision,
    excess_10     double precision,
    excess_20     double precision,
    excess_60     double precision,
    vol_20        double precision CHECK (vol_20 >= 0),
    ma_50         double precision CHECK (ma_50 > 0),
    above_ma_50   boolean,
    score         double precision,
    score_rank    integer          CHECK (score_rank >= 1),
    is_trending   boolean          NOT NULL,
    rule          text             NOT NULL,  -- which rule (and parameters) decided is_trending
    source        text             NOT NULL CHECK (source IN ('synthetic', 'replay', 'yfinance')),
    computed_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (session_date, ticker)
);

CREATE TABLE IF NOT EXISTS analytics_05_portfolio_allocation (
    session_date    date             NOT NULL,
    horizon         smallint         NOT NULL CHECK (horizon IN (5, 10, 20)),
    ticker          text             NOT NULL,
    weight          double precision NOT NULL CHECK (weight >= 0 AND weight <= 1),
    score           double precision,
    volatility      double precision CHECK (volatility >= 0),
    source_etfs     text             NOT NULL,  -- comma-separated ETFs whose holdings brought the ticker in
    method          text             NOT NULL,  -- weighting scheme or fallback that produced the row
    prices_as_of    date             NOT NULL,
    holdings_as_of  date,
    source          text             NOT NULL CHECK (source IN ('synthetic', 'replay', 'yfinance')),
    computed_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (session_date, horizon, ticker)
);

-- Quarantine: every row or message refused on its way in, with the rule it broke and what it was, so nothing is lost.
CREATE TABLE IF NOT EXISTS ops_dead_letters (
    id              bigserial   PRIMARY KEY,
    target_table    text        NOT NULL,
    stage           text        NOT NULL CHECK (stage IN ('validation', 'consumer')),
    partition_date  date,
    record_key      text,
    rule            text        NOT NULL,
    reason          text        NOT NULL,
    payload         text        NOT NULL,
    source          text,
    run_id          text,
    kafka_partition integer,
    kafka_offset    bigint,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- A message the consumer refused is re-delivered after a crash: it must land once, not once per delivery.
CREATE UNIQUE INDEX IF NOT EXISTS ops_dead_letters_message_idx
    ON ops_dead_letters (target_table, kafka_partition, kafka_offset) WHERE stage = 'consumer';
CREATE INDEX IF NOT EXISTS ops_dead_letters_table_date_idx ON ops_dead_letters (target_table, partition_date);
