-- Each portfolio's turnover, written once: analytics_08 charges trading costs on it, the API serves it.
--   previous_session  the session before session_date on SPY's calendar (collected_01), when it has a portfolio of the
--                     horizon; NULL for the first portfolio of a history or the first after sessions never run
--   turnover          Σ |w - w_previous| / 2 over the tickers of either portfolio (NULL without a previous portfolio)
--   entered, left_count  tickers held now and not before, held before and not now
-- A view over analytics_05, so a portfolio has its turnover the night it is built, scored or not.
CREATE OR REPLACE VIEW analytics_05_portfolio_turnover AS
WITH calendar AS (
    SELECT trade_date AS session_date, lag(trade_date) OVER (ORDER BY trade_date) AS previous_session
    FROM collected_01_daily_etf_ohlc WHERE ticker = 'SPY'
), pairs AS (
    SELECT p.session_date, p.horizon,
           CASE WHEN EXISTS (SELECT 1 FROM analytics_05_portfolio_allocation b
                             WHERE b.session_date = c.previous_session AND b.horizon = p.horizon)
                THEN c.previous_session END AS previous_session
    FROM (SELECT DISTINCT session_date, horizon FROM analytics_05_portfolio_allocation) p
    JOIN calendar c USING (session_date)
), weights AS (
    SELECT p.session_date, p.horizon, a.ticker, a.weight, 0.0::double precision AS previous_weight
    FROM pairs p JOIN analytics_05_portfolio_allocation a USING (session_date, horizon)
    WHERE p.previous_session IS NOT NULL
    UNION ALL
    SELECT p.session_date, p.horizon, b.ticker, 0.0, b.weight
    FROM pairs p JOIN analytics_05_portfolio_allocation b
      ON b.session_date = p.previous_session AND b.horizon = p.horizon
), changes AS (
    SELECT session_date, horizon, sum(abs(weight - previous_weight)) / 2 AS turnover,
           count(*) FILTER (WHERE previous_weight = 0 AND weight > 0)::integer AS entered,
           count(*) FILTER (WHERE weight = 0 AND previous_weight > 0)::integer AS left_count
    FROM (SELECT session_date, horizon, ticker, sum(weight) AS weight, sum(previous_weight) AS previous_weight
          FROM weights GROUP BY 1, 2, 3) per_ticker
    GROUP BY 1, 2
)
SELECT p.session_date, p.horizon, p.previous_session, c.turnover, c.entered, c.left_count
FROM pairs p LEFT JOIN changes c USING (session_date, horizon);

GRANT SELECT ON analytics_05_portfolio_turnover TO trendfolio_api;
