"""60 sessions of real recorded data through the whole pipeline in one backfill run: the collected tables hold exactly
the rows of the CSV files (count and values), as read here independently of the replay source's own parser."""

import csv
import datetime as dt
import re

import psycopg
import pytest
from dagster import materialize

from assets import ALL_ASSETS
from resources import MarketDataResource
from trendfolio import calendar
from trendfolio.analytics.allocation import LOOKBACK_SESSIONS as STOCK_LOOKBACK, AllocationRule
from trendfolio.analytics.trending import LOOKBACK_SESSIONS as ETF_LOOKBACK
from trendfolio.universe import ALL_ETFS
from trendfolio_app.report import shortfall_causes

pytestmark = pytest.mark.integration

END = dt.date(2022, 3, 14)  # jmaslek holdings snapshots exist for most ETFs up to here
SESSIONS = calendar.previous_sessions(END, 60)
START = SESSIONS[0]
PRICE_FIELDS = ("open", "high", "low", "close", "adj_close", "volume")


STOCK_FOLDERS = ("guydekowski_market-lab", "dieperdev_yfinance-stock-data", "Nooblet25_StockTrendAI-2")
RENAMED = {"FB": "META"}


def csv_prices(path, first: dt.date, last: dt.date) -> dict[dt.date, tuple]:
    """{date: (open, high, low, close, adj_close, volume)} from a `date,o,h,l,c,v`, `date,open,...` or Yahoo
    `Date,Open,...,Adj Close,Volume` file (without an Adj Close the close is adjusted)."""
    out = {}
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            record = {k.lower(): v for k, v in record.items()}
            day = dt.date.fromisoformat(record["date"][:10])
            if first <= day <= last:
                o, h, low, c, v = (float(record[k]) for k in (
                    ("o", "h", "l", "c", "v") if "o" in record else ("open", "high", "low", "close", "volume")))
                out[day] = (o, h, low, c, float(record.get("adj close", c)), v)
    return out


def stock_file(root, ticker: str):
    """The first of the stock folders with a file for the ticker, or for its new name."""
    for name in (ticker, RENAMED.get(ticker)):
        for folder in STOCK_FOLDERS:
            if name and (path := root / folder / f"{name.replace('.', '_')}.csv").is_file():
                return path
    return None


def csv_top_holdings(path, as_of: dt.date, top: int = 10) -> tuple[dt.date, list[tuple[str, float]]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, snapshots = rows[0], rows[1:]
    dated = [(dt.datetime.strptime(r[0], "%m/%d/%Y").date(), r) for r in snapshots if r and r[0]]
    newest = max(day for day, _ in dated if day <= as_of)
    latest = [row for day, row in dated if day == newest][-1]  # a date scraped twice: the later row is newer
    cells = [(name, float(value) / 100) for name, value in zip(header[1:-1], latest[1:-1]) if value.strip()]
    return newest, sorted(cells, key=lambda cell: -cell[1])[:top]


@pytest.fixture
def replay_run(warehouse, resources, shared_marketdata):
    resources = {**resources, "market_data": MarketDataResource(source="replay", replay_dir=str(shared_marketdata))}
    result = materialize(
        ALL_ASSETS, resources=resources,
        tags={"dagster/asset_partition_range_start": START.isoformat(),
              "dagster/asset_partition_range_end": END.isoformat()},
    )
    assert result.success
    return result


def test_sixty_replayed_sessions_land_exactly_the_csv_rows(warehouse, replay_run, shared_marketdata):
    # collected_01: every ETF, every session from the trend lookback up to END, values as in phainia's files.
    etf_from = calendar.previous_sessions(START, ETF_LOOKBACK + 1)[0]
    for ticker in ALL_ETFS:
        expected = csv_prices(shared_marketdata / "phainia_notification" / f"{ticker}.csv", etf_from, END)
        stored = {row[0]: row[1:] for row in warehouse.query(
            f"SELECT trade_date, {', '.join(PRICE_FIELDS)} FROM collected_01_daily_etf_ohlc WHERE ticker = %s",
            (ticker,))}
        assert len(expected) == len(calendar.sessions_between(etf_from, END))
        assert stored.keys() == expected.keys(), ticker
        for day, values in expected.items():
            assert stored[day] == pytest.approx(values, rel=1e-12), (ticker, day)
    assert warehouse.scalar("SELECT count(DISTINCT source) FROM collected_01_daily_etf_ohlc") == 1
    assert warehouse.scalar("SELECT min(source) FROM collected_01_daily_etf_ohlc") == "replay"

    # collected_04: for each trending (session, ETF), the latest snapshot on or before the session, top 10, stored
    # under the snapshot's own date (case 7); a snapshot older than 45 days holds nothing for the session.
    trending = warehouse.query(
        "SELECT session_date, ticker FROM analytics_03_trending_etfs WHERE is_trending AND session_date "
        "BETWEEN %s AND %s", (START, END))
    assert trending, "some sector should trend against SPY in 60 sessions"
    expected_holdings, held_on = {}, {}
    for session, etf in trending:
        snapshot, top = csv_top_holdings(shared_marketdata / "jmaslek_etf_scraper" / f"{etf}.csv", session)
        for holding, weight in top:
            assert re.match(r"^[A-Z][A-Z0-9.\-]{0,9}$", holding), "this window holds only well-formed tickers"
            expected_holdings[(etf, snapshot, holding)] = weight
            if (session - snapshot).days <= 45:
                held_on.setdefault(holding, []).append(session)
    stored_holdings = {(e, d, h): w for e, d, h, w in warehouse.query(
        "SELECT etf_ticker, as_of_date, holding_ticker, weight FROM collected_04_etf_holdings")}
    assert stored_holdings.keys() == expected_holdings.keys()
    for key, weight in expected_holdings.items():
        assert stored_holdings[key] == pytest.approx(weight, rel=1e-12)

    # collected_06: every held stock with a file in the stock folders, for each session it is held on from the
    # allocation lookback before it to 20 sessions after it (its portfolios' longest horizon), cut at END: what one
    # run per session would store; the others missing.
    held = sorted(held_on)
    with_file = [t for t in held if stock_file(shared_marketdata, t)]
    assert len(with_file) >= 20
    stored_stocks = {(t, d): values for t, d, *values in warehouse.query(
        f"SELECT ticker, trade_date, {', '.join(PRICE_FIELDS)} FROM collected_06_daily_stock_history")}
    expected_stocks = {}
    for ticker in with_file:
        path = stock_file(shared_marketdata, ticker)
        for session in held_on[ticker]:
            stock_from = calendar.previous_sessions(session, STOCK_LOOKBACK + 1)[0]
            stock_to = min(calendar.sessions_between(session, END)[:21][-1], END)
            for day, values in csv_prices(path, stock_from, stock_to).items():
                expected_stocks[(ticker, day)] = values
    assert stored_stocks.keys() == expected_stocks.keys()
    for key, values in expected_stocks.items():
        assert stored_stocks[key] == pytest.approx(values, rel=1e-12), key

    # So no held stock of a usable list drops out of a portfolio for want of a close (the report's "prices" cause).
    with psycopg.connect(warehouse.database_url) as conn:
        causes = shortfall_causes(conn, START, END, AllocationRule().max_holdings_age_days)
    assert causes and "prices" not in causes.values(), causes

    stock_meta = replay_run.asset_materializations_for_node("collected_06_daily_stock_history")[0].metadata
    assert stock_meta["tickers_missing"].value == sorted(set(held) - set(with_file))
    assert stock_meta["source"].value == "replay"
    etf_meta = replay_run.asset_materializations_for_node("collected_01_daily_etf_ohlc")[0].metadata
    assert etf_meta["rows_written"].value == len(ALL_ETFS) * len(
        calendar.sessions_between(etf_from, END))
    assert etf_meta["tickers_missing"].value == []
    assert etf_meta["kafka_topic"].value == f"{warehouse.namespace}.collected_01_daily_etf_ohlc"
    # Real, clean data: nothing was quarantined on the way.
    assert warehouse.query("SELECT target_table, rule, count(*) FROM ops_dead_letters GROUP BY 1, 2") == []
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in replay_run.get_asset_check_evaluations()}
    assert checks[("collected_01_daily_etf_ohlc", "every_ticker_has_its_sessions")]
    assert checks[("collected_01_daily_etf_ohlc", "ohlc_sanity")]
    assert checks[("collected_01_daily_etf_ohlc", "freshness")]
    assert checks[("collected_04_etf_holdings", "holdings_weights_at_most_one")]
    assert checks[("collected_06_daily_stock_history", "ohlc_sanity")]
