-- Issue 4: the named trending rule records why each ETF is or is not trending, and the realized performance table.

-- trending | not_top_n | below_ma_50 | insufficient_history | benchmark | benchmark_held (SPY on a session where no
-- sector passed the rule: the portfolios hold the benchmark).
ALTER TABLE analytics_03_trending_etfs ADD COLUMN IF NOT EXISTS selection text NOT NULL DEFAULT 'benchmark'
    CHECK (selection IN ('trending', 'not_top_n', 'below_ma_50', 'insufficient_history', 'benchmark', 'benchmark_held'));
ALTER TABLE analytics_03_trending_etfs ALTER COLUMN selection DROP DEFAULT;

CREATE TABLE IF NOT EXISTS analytics_07_portfolio_performance (
    evaluated_on                 date             NOT NULL,  -- the session the horizon ends on (the partition)
    session_date                 date             NOT NULL,  -- the session the allocation was built for
    horizon                      smallint         NOT NULL CHECK (horizon IN (5, 10, 20)),
    holdings                     integer          NOT NULL CHECK (holdings >= 1),
    portfolio_return             double precision NOT NULL,
    benchmark_return             double precision NOT NULL,
    excess_return                double precision NOT NULL,
    hit                          boolean          NOT NULL,  -- excess_return > 0
    evaluations                  integer          NOT NULL CHECK (evaluations >= 1),  -- running, per horizon
    hits                         integer          NOT NULL CHECK (hits >= 0 AND hits <= evaluations),
    hit_rate                     double precision NOT NULL CHECK (hit_rate >= 0 AND hit_rate <= 1),
    cumulative_return            double precision NOT NULL,
    cumulative_benchmark_return  double precision NOT NULL,
    source                       text             NOT NULL CHECK (source IN ('synthetic', 'replay', 'yfinance')),
    computed_at                  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (evaluated_on, horizon),
    UNIQUE (session_date, horizon)
);
