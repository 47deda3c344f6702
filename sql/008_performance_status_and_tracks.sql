-- Realized performance: every allocation whose horizon has elapsed gets a row, with what became of it, and the running
-- figures are recomputed from the stored rows after each write (trendfolio/analytics/performance.py).
--   status           evaluated | benchmark_held (a fallback_benchmark portfolio: a tie, outside hits and hit rate, kept
--                    in the curves) | unpriced (a holding without a price at either end: no return, outside everything)
--   method           the allocation's method (analytics_05)
--   unpriced_tickers comma-separated holdings without a price, for an unpriced row
--   benchmark_held, unpriced: running counts, like evaluations and hits (which count evaluated rows only)
--   track_start      the first evaluation session of the uninterrupted run of sessions the running figures are over: a
--                    session whose previous NYSE session has no row of the horizon starts a new track
-- The running columns are filled in the transaction that writes the rows, after the insert, hence nullable here.
-- status defaults to 'evaluated' for the rows written before this migration.
ALTER TABLE analytics_07_portfolio_performance
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'evaluated'
        CHECK (status IN ('evaluated', 'benchmark_held', 'unpriced')),
    ADD COLUMN IF NOT EXISTS method text,
    ADD COLUMN IF NOT EXISTS unpriced_tickers text,
    ADD COLUMN IF NOT EXISTS benchmark_held integer CHECK (benchmark_held >= 0),
    ADD COLUMN IF NOT EXISTS unpriced integer CHECK (unpriced >= 0),
    ADD COLUMN IF NOT EXISTS track_start date;
ALTER TABLE analytics_07_portfolio_performance
    ALTER COLUMN portfolio_return DROP NOT NULL,
    ALTER COLUMN excess_return DROP NOT NULL,
    ALTER COLUMN hit DROP NOT NULL,
    ALTER COLUMN evaluations DROP NOT NULL,
    ALTER COLUMN hits DROP NOT NULL,
    ALTER COLUMN hit_rate DROP NOT NULL,
    ALTER COLUMN cumulative_return DROP NOT NULL,
    ALTER COLUMN cumulative_benchmark_return DROP NOT NULL;
-- A track that starts with benchmark-held sessions has evaluated nothing yet.
ALTER TABLE analytics_07_portfolio_performance DROP CONSTRAINT IF EXISTS analytics_07_portfolio_performance_evaluations_check;
ALTER TABLE analytics_07_portfolio_performance ADD CONSTRAINT analytics_07_portfolio_performance_evaluations_check
    CHECK (evaluations >= 0);
ALTER TABLE analytics_07_portfolio_performance ADD CONSTRAINT analytics_07_portfolio_performance_status_fields_check
    CHECK ((status = 'unpriced') = (portfolio_return IS NULL)
           AND (status = 'unpriced') = (unpriced_tickers IS NOT NULL)
           AND (status = 'evaluated') = (hit IS NOT NULL));
-- Rows written before this migration: the next write of the table recomputes their running figures and tracks.
