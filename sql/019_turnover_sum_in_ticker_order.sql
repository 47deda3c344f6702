-- sql/017's turnover function, its sum over a portfolio's tickers now taken in ticker order. A float sum depends on the
-- order of its terms in the last bits, and without ORDER BY PostgreSQL adds the rows in the order it reads them, which
-- follows the order analytics_05's rows were written in: two warehouses holding the same portfolios (a backfill and the
-- same nights, local Spark and Spark Connect) could differ in turnover's last bit. The rule is unchanged.
CREATE OR REPLACE FUNCTION analytics_05_portfolio_turnover_between(first_session date, last_session date)
RETURNS TABLE (session_date date, horizon smallint, previous_session date, turnover double precision,
               entered integer, left_count integer)
LANGUAGE sql STABLE AS $$
WITH calendar AS (
    -- SPY's sessions of the range, and the one before it: its first session's previous_session
    SELECT trade_date AS session_date, lag(trade_date) OVER (ORDER BY trade_date) AS previous_session
    FROM collected_01_daily_etf_ohlc
    WHERE ticker = 'SPY' AND trade_date <= last_session
      AND trade_date >= coalesce((SELECT max(trade_date) FROM collected_01_daily_etf_ohlc
                                  WHERE ticker = 'SPY' AND trade_date < first_session), first_session)
), pairs AS (
    SELECT p.session_date, p.horizon,
           CASE WHEN EXISTS (SELECT 1 FROM analytics_05_portfolio_allocation b
                             WHERE b.session_date = c.previous_session AND b.horizon = p.horizon)
                THEN c.previous_session END AS previous_session
    FROM (SELECT DISTINCT session_date, horizon FROM analytics_05_portfolio_allocation
          WHERE session_date BETWEEN first_session AND last_session) p
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
    SELECT session_date, horizon, sum(abs(weight - previous_weight) ORDER BY ticker) / 2 AS turnover,
           count(*) FILTER (WHERE previous_weight = 0 AND weight > 0)::integer AS entered,
           count(*) FILTER (WHERE weight = 0 AND previous_weight > 0)::integer AS left_count
    FROM (SELECT session_date, horizon, ticker, sum(weight) AS weight, sum(previous_weight) AS previous_weight
          FROM weights GROUP BY 1, 2, 3) per_ticker
    GROUP BY 1, 2
)
SELECT p.session_date, p.horizon, p.previous_session, c.turnover, c.entered, c.left_count
FROM pairs p LEFT JOIN changes c USING (session_date, horizon)
$$;
