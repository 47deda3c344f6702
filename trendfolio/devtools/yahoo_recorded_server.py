"""A local stand-in for Yahoo's HTTP API, for the tests and benchmark 7: real yfinance talks to it through
`trendfolio.sources.yahoo.RedirectedSession` and gets what Yahoo would answer, built from the recordings in
../shared/marketdata/gadicc_node-yahoo-finance2.

- Charts (`/v8/finance/chart/SYMBOL`): a recorded chart (AAPL, QQQ, MSFT, NVDA) is served as recorded, cut to the
  asked period1/period2. With a `replay` source (the benchmark, the fault tests) a recording answers only the windows
  it covers entirely, and every other request gets a chart of the same shape filled with the real daily prices the
  replay source holds (phainia_notification for the ETFs, guydekowski_market-lab for the stocks); without one, a
  symbol with no recording gets Yahoo's 404 "No data found" body.
- Quote summaries (`/v10/finance/quoteSummary/SYMBOL`): QQQ's recorded answer as recorded; with a `replay` source, any
  ETF with holdings snapshots (jmaslek_etf_scraper) gets the same shape with its top holdings on `holdings_as_of`.
- The cookie (fc.yahoo.com) and crumb handshake yfinance performs once per process.

It counts every request by kind and path, and injects faults on the data requests (charts and quote summaries):
HTTP 429 for the next `rate_limit_next` of them or for all (`rate_limit_forever`), and a `delay_s` before answering
(longer than the client's timeout: a request that times out).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

RECORDINGS = {
    "AAPL": "chart-AAPL-2020-08-31-to-2020-11-07.json",
    "QQQ": "chart-QQQ-2020-01-01-to-2020-01-03.json",
    "MSFT": "historical-via-chart-MSFT-dividends-2021-02-01-to-2022-01-31.csv.json",
    "NVDA": "historical-via-chart-NVDA-split-2021-02-01-to-2022-01-31.csv.json",
}
QUOTE_SUMMARY = {"QQQ": "quoteSummary-all-QQQ.json"}
RECORDINGS_FOLDER = "gadicc_node-yahoo-finance2"
NEW_YORK = ZoneInfo("America/New_York")
NOT_FOUND = {"chart": {"result": None, "error": {"code": "Not Found",
                                                  "description": "No data found, symbol may be delisted"}}}
# Kinds of request, as counted: the handshake (cookie, crumb), yfinance's time-zone probe (a chart without a period),
# and the data requests the budget of benchmark 7 is about.
COOKIE, CRUMB, TZ_PROBE, CHART, QUOTE_SUMMARY_KIND, OTHER = (
    "cookie", "crumb", "tz_probe", "chart", "quote_summary", "other")
DATA_KINDS = (CHART, QUOTE_SUMMARY_KIND)


def _recorded(folder: Path, name: str) -> tuple[dict, dict]:
    """(request query, response body) of one recording."""
    recording = json.loads((folder / name).read_text())
    query = {k: v[0] for k, v in parse_qs(urlsplit(recording["request"]["url"]).query).items()}
    return query, recording["response"]["bodyJson"]


def _session_open_epoch(day: dt.date) -> int:
    """Yahoo stamps a daily bar with the session's 9:30 New York open."""
    return int(dt.datetime.combine(day, dt.time(9, 30), NEW_YORK).timestamp())


class RecordedYahoo:
    """What Yahoo would answer (see the module doc), with request counts and injected faults."""

    def __init__(self, marketdata: Path, replay=None, holdings_as_of: dt.date | None = None):
        folder = Path(marketdata) / RECORDINGS_FOLDER
        self.charts = {symbol: _recorded(folder, name) for symbol, name in RECORDINGS.items()}
        self.summaries = {symbol: _recorded(folder, name)[1] for symbol, name in QUOTE_SUMMARY.items()}
        self.replay = replay
        self.holdings_as_of = holdings_as_of
        self.rate_limit_next = 0
        self.rate_limit_forever = False
        self.delay_s = 0.0
        self.counts: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()  # "429" and "delayed" answers served
        self.paths: list[tuple[str, str]] = []  # (kind, path) of every request, in order
        self.lock = threading.Lock()

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.faults.clear()
            self.paths.clear()

    def data_requests(self) -> list[str]:
        with self.lock:
            return [path for kind, path in self.paths if kind in DATA_KINDS]

    # --- answers ------------------------------------------------------------------------------------------------

    def _recorded_chart(self, symbol: str, first: int, last: int) -> dict:
        body = copy.deepcopy(self.charts[symbol][1])
        result = body["chart"]["result"][0]
        keep = [i for i, ts in enumerate(result["timestamp"]) if first <= ts < last]
        result["timestamp"] = [result["timestamp"][i] for i in keep]
        for block in ("quote", "adjclose"):
            for series in result["indicators"].get(block, []):
                for field in series:
                    series[field] = [series[field][i] for i in keep]
        for kind, events in result.get("events", {}).items():
            result["events"][kind] = {k: v for k, v in events.items() if first <= int(k) < last}
        return body

    def _replayed_chart(self, symbol: str, first: int | None, last: int | None) -> dict | None:
        """The recorded QQQ chart's shape with the replay source's prices for the period (None: no prices at all)."""
        if first is None:
            start, end = dt.date(1990, 1, 1), dt.date.today()
        else:
            start = dt.datetime.fromtimestamp(first, NEW_YORK).date()
            end = dt.datetime.fromtimestamp(last - 1, NEW_YORK).date()
        rows = self.replay.daily_ohlc([symbol], start, end)
        if rows.empty and first is None:
            return None
        body = copy.deepcopy(self.charts["QQQ"][1])
        result = body["chart"]["result"][0]
        result["meta"].update(symbol=symbol, instrumentType="EQUITY", longName=symbol, shortName=symbol)
        if first is None:  # the time-zone probe reads the meta only
            result.pop("timestamp", None)
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
            return body
        rows = rows.sort_values("trade_date")
        result["timestamp"] = [_session_open_epoch(day) for day in rows["trade_date"]]
        result["indicators"] = {
            "quote": [{field: [None if v != v else float(v) for v in rows[field]]
                       for field in ("open", "high", "low", "close")}
                      | {"volume": [None if v != v else int(v) for v in rows["volume"]]}],
            "adjclose": [{"adjclose": [None if v != v else float(v) for v in rows["adj_close"]]}],
        }
        result.pop("events", None)
        return body

    def chart(self, symbol: str, query: dict) -> dict | None:
        if "period1" not in query:  # yfinance's time-zone probe (range=1d) only reads meta
            if symbol in self.charts:
                return copy.deepcopy(self.charts[symbol][1])
            return self._replayed_chart(symbol, None, None) if self.replay else None
        first, last = int(query["period1"][0]), int(query["period2"][0])
        if symbol in self.charts:
            recorded = self.charts[symbol][0]
            # Without replay data the recording is all there is; with it, the recording answers only a window it
            # covers entirely (a window reaching past it would come back cut short).
            if not self.replay or int(recorded["period1"]) <= first and last <= int(recorded["period2"]):
                return self._recorded_chart(symbol, first, last)
        return self._replayed_chart(symbol, first, last) if self.replay else None

    def quote_summary(self, symbol: str) -> dict | None:
        if symbol in self.summaries:
            return self.summaries[symbol]
        if self.replay is None or self.holdings_as_of is None:
            return None
        holdings = self.replay.etf_holdings(symbol, self.holdings_as_of)
        if holdings.empty:
            return None
        body = copy.deepcopy(self.summaries["QQQ"])
        result = body["quoteSummary"]["result"][0]
        result["quoteType"].update(symbol=symbol, underlyingSymbol=symbol, shortName=symbol, longName=symbol)
        result["topHoldings"]["holdings"] = [
            {"symbol": row.holding_ticker, "holdingName": row.holding_name, "holdingPercent": row.weight}
            for row in holdings.itertuples()]
        return body

    def answer(self, host: str, path: str, query: dict) -> tuple[int, str, dict]:
        if host == "fc.yahoo.com":
            kind = COOKIE
        elif path.endswith("/v1/test/getcrumb"):
            kind = CRUMB
        elif path.startswith("/v8/finance/chart/"):
            kind = CHART if "period1" in query else TZ_PROBE
        elif path.startswith("/v10/finance/quoteSummary/"):
            kind = QUOTE_SUMMARY_KIND
        else:
            kind = OTHER
        with self.lock:
            self.counts[kind] += 1
            self.paths.append((kind, path))
            limited = False
            if kind in DATA_KINDS:
                limited = self.rate_limit_forever or self.rate_limit_next > 0
                self.rate_limit_next = max(0, self.rate_limit_next - 1)
        if kind == COOKIE:
            return 404, "", {"Set-Cookie": "A3=d=recorded; Path=/; Max-Age=3600"}  # Yahoo answers 404 too
        if kind == CRUMB:
            return 200, "recorded-crumb", {}
        if kind == OTHER:
            return 404, "<html>not recorded</html>", {}
        if self.delay_s and kind in DATA_KINDS:
            with self.lock:
                self.faults["delayed"] += 1
            time.sleep(self.delay_s)
        if limited:
            with self.lock:
                self.faults["429"] += 1
            return 429, "Too Many Requests", {}
        symbol = path.strip("/").split("/")[-1]
        body = self.quote_summary(symbol) if kind == QUOTE_SUMMARY_KIND else self.chart(symbol, query)
        if body is None:
            return 404, json.dumps(NOT_FOUND), {}
        return 200, json.dumps(body), {}


@contextlib.contextmanager
def serve(yahoo: RecordedYahoo) -> Iterator[str]:
    """Serve `yahoo` on a free local port; yields the base URL for `trendfolio.sources.yahoo.RedirectedSession`."""

    class Handler(BaseHTTPRequestHandler):
        def handle_request(self):
            url = urlsplit(self.path)
            host, _, path = url.path.lstrip("/").partition("/")
            status, body, headers = yahoo.answer(host, "/" + path, parse_qs(url.query))
            payload = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body.startswith("{") else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timed-out request)

        do_GET = do_POST = handle_request

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
