-- Both allocation caps hold exactly where feasible; a row records any cap that had to be relaxed, and to what.
ALTER TABLE analytics_05_portfolio_allocation ADD COLUMN IF NOT EXISTS constraint_note text;

-- Each evaluated portfolio against three baselines over the same sessions, with its turnover, its return net of
-- costs and running figures per horizon recomputed from every stored row (ARCHITECTURE.md, "Baselines").
CREATE TABLE IF NOT EXISTS analytics_08_portfolio_baselines (
    evaluated_on                     date             NOT NULL,  -- the session the horizon ends on (the partition)
    session_date                     date             NOT NULL,  -- the session the portfolio was built for
    horizon                          smallint         NOT NULL CHECK (horizon IN (5, 10, 20)),
    method                           text             NOT NULL,  -- the portfolio's method (analytics_05)
    holdings                         integer          NOT NULL CHECK (holdings >= 1),
    portfolio_return                 double precision NOT NULL,
    trending_etfs_return             double precision NOT NULL,  -- (a) the session's trending ETFs, equally weighted
    sector_etfs_return               double precision NOT NULL,  -- (b) the 11 sector ETFs, equally weighted
    spy_return                       double precision NOT NULL,  -- (c) SPY
    excess_vs_trending_etfs          double precision NOT NULL,
    excess_vs_sector_etfs            double precision NOT NULL,
    excess_vs_spy                    double precision NOT NULL,
    turnover                         double precision CHECK (turnover >= 0 AND turnover <= 1 + 1e-9),
    cost_per_turnover                double precision NOT NULL CHECK (cost_per_turnover >= 0),
    net_return                       double precision NOT NULL,
    -- running, per horizon, over every stored row with evaluated_on <= this one
    evaluations                      integer          NOT NULL CHECK (evaluations >= 1),
    hit_rate_vs_trending_etfs        double precision NOT NULL CHECK (hit_rate_vs_trending_etfs BETWEEN 0 AND 1),
    hit_rate_vs_sector_etfs          double precision NOT NULL CHECK (hit_rate_vs_sector_etfs BETWEEN 0 AND 1),
    hit_rate_vs_spy                  double precision NOT NULL CHECK (hit_rate_vs_spy BETWEEN 0 AND 1),
    cumulative_return                double precision NOT NULL,
    cumulative_net_return            double precision NOT NULL,
    cumulative_trending_etfs_return  double precision NOT NULL,
    cumulative_sector_etfs_return    double precision NOT NULL,
    cumulative_spy_return            double precision NOT NULL,
    max_drawdown                     double precision NOT NULL CHECK (max_drawdown <= 0),
    annualized_volatility            double precision CHECK (annualized_volatility >= 0),
    source                           text             NOT NULL CHECK (source IN ('synthetic', 'replay', 'yfinance')),
    computed_at                      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (evaluated_on, horizon),
    UNIQUE (session_date, horizon)
);
