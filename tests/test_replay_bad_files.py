"""A replay CSV that is partly or wholly unreadable costs only its lines or its ticker: collected_01 runs over copies of
the real ETF files into which a malformed line, and for two ETFs a whole unreadable file, are written. Every readable
row is stored, the rest dead-lettered; the ETFs left without a row fail the night's blocking ERROR check, naming them,
so no trend is ranked without them."""

import datetime as dt
import json
import shutil

import pytest
from dagster import materialize

from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from resources import MarketDataResource
from trendfolio import calendar
from trendfolio.analytics.trending import LOOKBACK_SESSIONS
from trendfolio.failures import run_failure
from trendfolio.universe import ALL_ETFS

pytestmark = pytest.mark.integration

SESSION = dt.date(2022, 3, 14)
BAD_DAY = "2022-03-10"
# ETF → what its copy's 2022-03-10 line becomes.
BROKEN_LINES = {
    "XLF": lambda line: line.replace(BAD_DAY, "2022-03-1O"),  # a letter O for a zero
    "XLE": lambda line: line + ",7",  # one field too many
    "XLV": lambda line: ",".join([*line.split(",")[:2], "n/a", *line.split(",")[3:]]),  # text where high belongs
}
UNREADABLE = {"XLK": b"date,o,h,l,c,v\n2022-03-10,1\xe9,2,1,1,5\n", "XLU": b""}


@pytest.fixture
def broken_root(tmp_path, shared_marketdata):
    folder = tmp_path / "prices"
    folder.mkdir()
    for ticker in ALL_ETFS:
        shutil.copy(shared_marketdata / "phainia_notification" / f"{ticker}.csv", folder / f"{ticker}.csv")
    broken = {}
    for ticker, breaks in BROKEN_LINES.items():
        lines = (folder / f"{ticker}.csv").read_text().splitlines()
        number = next(i for i, line in enumerate(lines) if line.startswith(BAD_DAY))
        lines[number] = breaks(lines[number])
        broken[ticker] = (number + 1, lines[number])
        (folder / f"{ticker}.csv").write_text("\n".join(lines) + "\n")
    for ticker, content in UNREADABLE.items():
        (folder / f"{ticker}.csv").write_bytes(content)
    return folder, broken


def test_a_bad_line_is_a_dead_letter_and_a_bad_file_fails_only_its_ticker(warehouse, resources, broken_root):
    folder, broken = broken_root
    result = materialize(
        [collected_01_daily_etf_ohlc], partition_key=SESSION.isoformat(),
        resources={**resources, "market_data": MarketDataResource(source="replay", replay_dir=str(folder))},
        raise_on_error=False,
    )
    assert not result.success
    assert run_failure(result.all_events) == ("collected_01_daily_etf_ohlc: check every_ticker_has_a_row failed "
                                              "(ERROR): tickers_without_rows: XLK, XLU; tickers: 15")
    metadata = result.asset_materializations_for_node("collected_01_daily_etf_ohlc")[0].metadata
    unreadable = metadata["tickers_unreadable"].value
    assert sorted(unreadable) == sorted(UNREADABLE)
    assert str(folder / "XLK.csv") in unreadable["XLK"] and "not UTF-8" in unreadable["XLK"]
    assert "empty file" in unreadable["XLU"]
    assert sorted(metadata["tickers_missing"].value) == sorted(UNREADABLE)  # the session's rows: the others have it

    # Every other ETF has all its sessions; the three with a bad line miss only that day.
    sessions = calendar.sessions_between(calendar.previous_sessions(SESSION, LOOKBACK_SESSIONS + 1)[0], SESSION)
    stored = dict(warehouse.query("SELECT ticker, count(*) FROM collected_01_daily_etf_ohlc GROUP BY ticker"))
    for ticker in ALL_ETFS:
        expected = 0 if ticker in UNREADABLE else len(sessions) - (ticker in BROKEN_LINES)
        assert stored.get(ticker, 0) == expected, ticker
    assert warehouse.scalar("SELECT count(*) FROM collected_01_daily_etf_ohlc WHERE trade_date = %s AND ticker = "
                            "ANY(%s)", (dt.date(2022, 3, 10), list(BROKEN_LINES))) == 0

    letters = warehouse.query("SELECT rule, record_key, reason, payload FROM ops_dead_letters "
                              "WHERE target_table = 'collected_01_daily_etf_ohlc' ORDER BY record_key")
    malformed = {json.loads(payload)["ticker"]: (key, reason, json.loads(payload))
                 for rule, key, reason, payload in letters if rule == "malformed_line"}
    assert sorted(malformed) == sorted(BROKEN_LINES)
    for ticker, (number, text) in broken.items():
        key, reason, payload = malformed[ticker]
        assert reason.startswith(f"{folder / f'{ticker}.csv'} line {number}: ")
        assert payload["text"] == text and payload["line"] == number  # the raw line, not NaN
    assert malformed["XLE"][0] == f"XLE|{BAD_DAY}" and malformed["XLF"][0] == "XLF|?"
    assert "'n/a'" in malformed["XLV"][1]
    files = {key: reason for rule, key, reason, _ in letters if rule == "unreadable_file"}
    assert sorted(files) == sorted(UNREADABLE) and str(folder / "XLU.csv") in files["XLU"]
    assert len(letters) == len(BROKEN_LINES) + len(UNREADABLE)
