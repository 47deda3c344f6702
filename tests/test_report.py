"""`trendfolio report`: the track record from the stored tables only, on hand-made rows whose figures are known."""

import datetime as dt
import math

import psycopg
import pytest

from trendfolio_app.report import write_report
from trendfolio_app.cli import main

pytestmark = pytest.mark.integration

DAYS = [dt.date(2022, 3, 1), dt.date(2022, 3, 2), dt.date(2022, 3, 3), dt.date(2022, 3, 4)]


def allocation_rows():
    rows = []
    for day in DAYS[:2]:  # ten stocks, unequal weights
        weights = [0.1 + 0.01 * (i - 4.5) for i in range(10)]
        rows += [(day, 5, f"S{i}", w, "score_inv_vol_capped", None) for i, w in enumerate(weights)]
    rows += [(DAYS[2], 5, "XLK", 0.5, "fallback_trending_etfs", None), (DAYS[2], 5, "XLE", 0.5,
                                                                        "fallback_trending_etfs", None)]
    rows += [(DAYS[3], 5, "SPY", 1.0, "fallback_benchmark", None)]
    return rows


def baseline_rows():
    """Three scored 5-session portfolios: returns +5 %, -2 %, +1 %; SPY +1 %, +1 %, +1 %."""
    out = []
    for day, ret, trending, turnover in ((DAYS[0], 0.05, 0.02, None), (DAYS[1], -0.02, 0.03, 0.2),
                                         (DAYS[2], 0.01, 0.01, 1.0)):
        out.append(dict(evaluated_on=day + dt.timedelta(days=7), session_date=day, horizon=5,
                        method="score_inv_vol_capped", holdings=10, portfolio_return=ret,
                        trending_etfs_return=trending, sector_etfs_return=0.0, spy_return=0.01,
                        excess_vs_trending_etfs=ret - trending, excess_vs_sector_etfs=ret, excess_vs_spy=ret - 0.01,
                        turnover=turnover, cost_per_turnover=0.001, net_return=ret - 0.001 * (turnover or 0),
                        evaluations=1, hit_rate_vs_trending_etfs=0, hit_rate_vs_sector_etfs=0, hit_rate_vs_spy=0,
                        cumulative_return=0, cumulative_net_return=0, cumulative_trending_etfs_return=0,
                        cumulative_sector_etfs_return=0, cumulative_spy_return=0, max_drawdown=0,
                        annualized_volatility=None, source="replay"))
    return out


def test_the_report_states_the_stored_track_record(warehouse, tmp_path):
    with psycopg.connect(warehouse.database_url) as conn:
        for row in allocation_rows():
            conn.execute("INSERT INTO analytics_05_portfolio_allocation (session_date, horizon, ticker, weight, method, "
                         "constraint_note, source_etfs, prices_as_of, source) VALUES (%s, %s, %s, %s, %s, %s, '', "
                         "%s, 'replay')",
                         (*row, row[0]))
        for row in baseline_rows():
            conn.execute(f"INSERT INTO analytics_08_portfolio_baselines ({', '.join(row)}) "
                         f"VALUES ({', '.join(['%s'] * len(row))})", list(row.values()))
    report = write_report(warehouse.database_url, DAYS[0], DAYS[-1], tmp_path / "out", "trendfolio report …")
    figures = report.figures[5]
    assert figures["portfolios"] == 4 and figures["scored"] == 3
    assert figures["weighted_share"] == 0.5 and figures["fallback_spy_share"] == 0.25
    assert figures["weighted_10_share_of_trending"] == pytest.approx(2 / 3)  # 2 of the 3 sessions with a trending ETF
    assert figures["weighted_unequal_share"] == 1.0
    assert figures["hit_rate_vs_spy"] == pytest.approx(1 / 3) and figures["hit_rate_vs_trending_etfs"] == pytest.approx(
        1 / 3)
    assert figures["mean_excess_vs_spy"] == pytest.approx((0.04 - 0.03 + 0.0) / 3)
    assert figures["cumulative_return"] == pytest.approx((1.05 * 0.98 * 1.01) ** (1 / 5) - 1)
    assert figures["cumulative_spy"] == pytest.approx(1.01 ** (3 / 5) - 1)
    assert figures["max_drawdown"] == pytest.approx(0.98 ** (1 / 5) - 1)
    assert figures["mean_turnover"] == pytest.approx(0.6)
    assert figures["cumulative_net_return"] == pytest.approx((1.05 * (0.98 - 0.0002) * (1.01 - 0.001)) ** 0.2 - 1)
    text = (tmp_path / "out" / "README.md").read_text()
    assert "### 5-session portfolios" in text and "trendfolio report …" in text and "| hit rate vs SPY | 33.3% |" in text
    assert (tmp_path / "out" / "cumulative_h5.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.figures[10]["portfolios"] == 0 and math.isnan(report.figures[10]["weighted_share"])


def test_an_empty_range_is_an_error_not_an_empty_report(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", warehouse.database_url)
    assert main(["report", "--start", "2022-03-01", "--end", "2022-03-04", "--out", str(tmp_path / "r")]) == 1
    assert "no portfolio stored for sessions 2022-03-01 .. 2022-03-04" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert main(["report", "--start", "2022-03-04", "--end", "2022-03-01"]) == 2


def test_the_report_says_why_a_session_with_a_trending_etf_has_no_stock_portfolio_of_ten(warehouse, tmp_path):
    """Four sessions: XLK's only list is 60 days old; a held stock misses a close; every list and close is there but
    only 7 stocks score above 0; a portfolio of 10. Each shortfall is counted under its own cause."""
    from trendfolio import calendar

    stale, unpriced, unscored, full = days = calendar.sessions_between(dt.date(2022, 4, 4), dt.date(2022, 4, 7))
    stocks = [f"V{i}" for i in range(10)]
    gap = calendar.previous_sessions(unpriced, 21)[0]  # inside the unpriced session's 21 closes only (and stale's)
    with psycopg.connect(warehouse.database_url) as conn:
        for day in days:
            for etf in ("XLK", "XLV") if day == stale else ("XLV",):
                conn.execute("INSERT INTO analytics_03_trending_etfs (session_date, ticker, etf_role, adj_close, "
                             "is_trending, rule, selection, source) VALUES (%s, %s, 'sector', 1, true, 'r', "
                             "'trending', 'replay')", (day, etf))
        holdings = [("XLK", stale - dt.timedelta(days=60), "K0")] + [("XLV", stale, s) for s in stocks]
        for etf, as_of, stock in holdings:
            conn.execute("INSERT INTO collected_04_etf_holdings (etf_ticker, as_of_date, holding_ticker, weight, "
                         "source) VALUES (%s, %s, %s, 0.05, 'replay')", (etf, as_of, stock))
        for day in calendar.sessions_between(calendar.previous_sessions(stale, 21)[0], full):
            for stock in stocks:
                if not (stock == "V9" and day == gap):
                    conn.execute("INSERT INTO collected_06_daily_stock_history (ticker, trade_date, open, high, low, "
                                 "close, adj_close, volume, source) VALUES (%s, %s, 1, 1, 1, 1, 1, 0, 'replay')",
                                 (stock, day))
        portfolios = [(stale, "XLK", 0.5, "fallback_trending_etfs"), (stale, "XLV", 0.5, "fallback_trending_etfs")]
        for day, held in ((unpriced, 6), (unscored, 7), (full, 10)):
            portfolios += [(day, stock, 1 / held, "score_inv_vol_capped") for stock in stocks[:held]]
        for day, ticker, weight, method in portfolios:
            conn.execute("INSERT INTO analytics_05_portfolio_allocation (session_date, horizon, ticker, weight, method, "
                         "source_etfs, prices_as_of, source) VALUES (%s, 5, %s, %s, %s, 'XLV', %s, 'replay')",
                         (day, ticker, weight, method, day))
    report = write_report(warehouse.database_url, days[0], days[-1], tmp_path / "out", "trendfolio report …")
    figures = report.figures[5]
    assert figures["weighted_10_share_of_trending"] == pytest.approx(1 / 4)
    assert (figures["short_holdings"], figures["short_prices"], figures["short_scores"]) == (1, 1, 1)
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| short of that because a trending ETF had no holdings list dated within 45 days of the session | 1 |" in text
