"""Asset checks shared by the collection assets, and the result of a run whose dates hold no NYSE session.

Every check of ERROR severity in the project is `blocking`: when it fails, its step fails after writing, the run
fails (the CLI's one line names the check and what it found) and the assets downstream do not run on what it found.
A WARN check is reported and the night goes on."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MaterializeResult

from trendfolio import quality

EVERY_TICKER_HAS_ITS_SESSIONS = "every_ticker_has_its_sessions"
OHLC_SANITY = "ohlc_sanity"
FRESHNESS = "freshness"
HOLDINGS_WEIGHTS_AT_MOST_ONE = "holdings_weights_at_most_one"
EVERY_TICKER_HAS_A_ROW = "every_ticker_has_a_row"
QUARANTINE_AT_MOST_5_PERCENT = "quarantine_at_most_5_percent"
QUARANTINE_LIMIT = 0.05


def ohlc_check_specs(asset_name: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(EVERY_TICKER_HAS_ITS_SESSIONS, asset=asset_name,
                       description="every ticker has a row for each session it is expected on (an ETF every "
                                   "session, a stock each session a trending ETF holds it), or is listed"),
        AssetCheckSpec(OHLC_SANITY, asset=asset_name, blocking=True,
                       description="prices > 0, volume >= 0, high >= max(open, close), low <= min(open, close) "
                                   "(ERROR)"),
        AssetCheckSpec(FRESHNESS, asset=asset_name,
                       description="the newest stored session is the run's last session"),
        AssetCheckSpec(EVERY_TICKER_HAS_A_ROW, asset=asset_name, blocking=True,
                       description="no ticker of the run's universe is left without a single row in the run's "
                                   "sessions (ERROR, naming them)"),
        AssetCheckSpec(QUARANTINE_AT_MOST_5_PERCENT, asset=asset_name, blocking=True,
                       description="validation refused at most 5 % of the rows fetched (ERROR, naming the tickers)"),
    ]


def ohlc_check_results(conn, table: str, wanted: list[tuple[str, dt.date]], start: dt.date, end: dt.date,
                       refused: list | None = None, fetched_rows: int = 0) -> list[AssetCheckResult]:
    """`wanted`: the (ticker, session) pairs the run was expected to store. `refused`: the rows validation refused in
    this run (Rejections), out of `fetched_rows` fetched; a run that fetched nothing (already collected) passes the
    quarantine check."""
    tickers = sorted({ticker for ticker, _ in wanted})
    missing = quality.tickers_missing_sessions(conn, table, wanted)
    rowless = quality.tickers_without_rows(conn, table, tickers, start, end) if tickers else []
    refused = refused or []
    share = len(refused) / fetched_rows if fetched_rows else 0.0
    by_ticker = Counter(r.record_key.split("|")[0] for r in refused)
    bad = quality.ohlc_violations(conn, table, start, end)
    latest = quality.latest_session_stored(conn, table, tickers) if tickers else None
    return [
        AssetCheckResult(check_name=EVERY_TICKER_HAS_ITS_SESSIONS, passed=not missing,
                         severity=AssetCheckSeverity.WARN,
                         metadata={"tickers_missing": missing, "tickers": len(tickers)}),
        AssetCheckResult(check_name=OHLC_SANITY, passed=not bad, severity=AssetCheckSeverity.ERROR,
                         metadata={"violations": [f"{t} {d}" for t, d in bad]}),
        AssetCheckResult(check_name=FRESHNESS, passed=not tickers or (latest is not None and latest >= end),
                         severity=AssetCheckSeverity.WARN,
                         metadata={"latest_session": str(latest), "expected": end.isoformat()}),
        AssetCheckResult(check_name=EVERY_TICKER_HAS_A_ROW, passed=not rowless, severity=AssetCheckSeverity.ERROR,
                         metadata={"tickers_without_rows": rowless, "tickers": len(tickers)}),
        AssetCheckResult(check_name=QUARANTINE_AT_MOST_5_PERCENT, passed=share <= QUARANTINE_LIMIT,
                         severity=AssetCheckSeverity.ERROR,
                         metadata={"refused": len(refused), "fetched": fetched_rows, "share": round(share, 4),
                                   "refused_by_ticker": dict(by_ticker.most_common(30))}),
    ]


def market_closed(start: dt.date, end: dt.date, check_names: list[str], source: str) -> MaterializeResult:
    """No NYSE session in the run's dates: no rows, a clear result, and checks that pass with the reason."""
    reason = f"market closed: no NYSE session between {start} and {end}"
    return MaterializeResult(
        metadata={"market_closed": True, "reason": reason, "rows_written": 0, "source": source},
        check_results=[AssetCheckResult(check_name=name, passed=True, metadata={"skipped": reason})
                       for name in check_names],
    )


def already_collected_metadata(source: str, wanted: int) -> dict:
    """The metadata of a run that found every (ticker, session) it needs already settled: it asked the source nothing
    and wrote nothing (see trendfolio.collect.already_collected)."""
    return {"already_collected": True, "rows_written": 0, "source_requests": 0, "source": source,
            "ticker_sessions": wanted,
            "reason": "every ticker's sessions were fetched after the session's close by a completed run"}
