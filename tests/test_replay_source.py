"""The replay source's parsing as plain calls: small files in each header spelling of ../shared/marketdata, and the
real files where a fact about them matters."""

import datetime as dt
import json

import pandas as pd
import pytest

from trendfolio.sources import make_source
from trendfolio.sources.replay import FOLDER_ORDER, RENAMES, ReplaySource, resolve_directories

HOLDINGS = """,BRK.B,JPM,n/a,Unum Group,TINY,SUM
07/09/2021,12.5,11.0,,0.5,0.01,24.01
07/12/2021,13.0,10.0,n/a,,,23.0
07/12/2021,13.5,10.5,,,,24.0
"""


@pytest.fixture
def recorded(tmp_path):
    (tmp_path / "SPY.csv").write_text("date,o,h,l,c,v\n2022-03-10,1,2,0.5,1.5,100\n2022-03-11,1.5,2,1,1.8,200\n"
                                      "2022-03-14,1.8,2,1,1.9,300\n")
    (tmp_path / "BRK_B.csv").write_text("date,open,high,low,close,volume\n2022-03-11,300,310,295,305,1000\n")
    (tmp_path / "XLC.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2018-06-18 00:00:00+00:00,,,,,,\n"
        "2018-06-19 00:00:00+00:00,49.7,50.2,49.4,49.96,47.16,16600\n2018-06-20 00:00:00+00:00,50.4,,50.1,50.5,47.7,1\n")
    (tmp_path / "XLF.csv").write_text(HOLDINGS)
    return tmp_path


def test_every_header_spelling_reads_into_the_same_columns(recorded):
    source = ReplaySource(str(recorded))
    spy = source.daily_ohlc(["SPY"], dt.date(2022, 3, 1), dt.date(2022, 3, 11))
    assert spy.values.tolist() == [["SPY", dt.date(2022, 3, 10), 1, 2, 0.5, 1.5, 1.5, 100],
                                   ["SPY", dt.date(2022, 3, 11), 1.5, 2, 1, 1.8, 1.8, 200]]  # nothing after the end
    brk = source.daily_ohlc(["BRK.B"], dt.date(2022, 3, 11), dt.date(2022, 3, 11))
    assert brk.ticker.tolist() == ["BRK.B"] and brk.adj_close.tolist() == [305]
    xlc = source.daily_ohlc(["XLC"], dt.date(2018, 6, 1), dt.date(2018, 6, 30))
    # The empty pre-listing row is no row; a partly empty one stays, with its NaN, for validation to refuse.
    assert xlc.trade_date.tolist() == [dt.date(2018, 6, 19), dt.date(2018, 6, 20)]
    assert xlc.adj_close.tolist() == [47.16, 47.7] and xlc.high.isna().tolist() == [False, True]
    assert source.daily_ohlc(["NOFILE"], dt.date(2022, 3, 1), dt.date(2022, 3, 11)).empty


def test_holdings_are_the_latest_snapshot_on_or_before_the_date_in_fractions(recorded):
    source = ReplaySource(str(recorded), top_n=3)
    assert source.etf_holdings("XLF", dt.date(2021, 7, 8)).empty  # before the first snapshot
    july_9 = source.etf_holdings("XLF", dt.date(2021, 7, 11))
    assert july_9.holding_ticker.tolist() == ["BRK.B", "JPM", "Unum Group"]  # top 3; validation refuses the name
    assert july_9.weight.tolist() == pytest.approx([0.125, 0.11, 0.005])
    assert july_9.holding_name.tolist() == [None, None, None]
    later = ReplaySource(str(recorded), top_n=None).etf_holdings("XLF", dt.date(2022, 1, 1))
    assert later.holding_ticker.tolist() == ["BRK.B", "JPM"]  # the second 07/12 row is the newer scrape
    assert later.weight.tolist() == pytest.approx([0.135, 0.105])


def test_a_weight_that_is_not_a_number_is_passed_on_as_nan(tmp_path):
    (tmp_path / "XLE.csv").write_text(",XOM,CVX,SUM\n08/31/2021,n/a,20,20\n")
    holdings = ReplaySource(str(tmp_path), top_n=None).etf_holdings("XLE", dt.date(2021, 9, 1))
    assert holdings.holding_ticker.tolist() == ["CVX", "XOM"] and holdings.weight.isna().tolist() == [False, True]


def test_a_marketdata_root_stands_for_every_folder_in_a_documented_order(shared_marketdata):
    folders = [f.name for f in resolve_directories(str(shared_marketdata))]
    assert folders[:5] == list(FOLDER_ORDER)
    assert sorted(folders[5:], key=str.lower) == folders[5:] and "jmiloser_ichimoku" in folders
    source = make_source("replay", directories=str(shared_marketdata))
    assert source.name == "replay"
    # jmiloser's tz-aware Yahoo CSV reads through the same path.
    xlc = ReplaySource(str(shared_marketdata / "jmiloser_ichimoku")).daily_ohlc(
        ["XLC"], dt.date(2018, 6, 1), dt.date(2018, 6, 19))
    assert xlc.trade_date.tolist() == [dt.date(2018, 6, 19)]
    assert xlc.close.iloc[0] != xlc.adj_close.iloc[0]


def test_the_root_prices_every_folder_earlier_first_renames_and_adj_close(shared_marketdata):
    source = ReplaySource(str(shared_marketdata))
    day = dt.date(2021, 7, 9)
    rows = source.daily_ohlc(["XLK", "AAPL", "ABT", "ATVI", "FB", "PDCE"], day, day).set_index("ticker")
    assert sorted(rows.index) == ["AAPL", "ABT", "ATVI", "FB", "XLK"]  # PDCE has no file anywhere
    # XLK is in phainia (adjusted, first) as well as in jmiloser and Xuecheng (raw OHLC): phainia's wins.
    phainia = pd.read_csv(shared_marketdata / "phainia_notification" / "XLK.csv").set_index("date").loc[str(day)]
    assert rows.loc["XLK", "close"] == rows.loc["XLK", "adj_close"] == phainia["c"]
    # dieperdev's Yahoo CSV: Adj Close is the adjusted close, OHLC stay Yahoo's split-adjusted ones.
    abt = pd.read_csv(shared_marketdata / "dieperdev_yfinance-stock-data" / "ABT.csv").set_index("Date").loc[str(day)]
    assert rows.loc["ABT", "adj_close"] == abt["Adj Close"] and rows.loc["ABT", "close"] == abt["Close"]
    assert rows.loc["ABT", "high"] >= rows.loc["ABT", "close"] > rows.loc["ABT", "adj_close"]
    assert rows.loc["ATVI", "adj_close"] == rows.loc["ATVI", "close"]  # Nooblet25: adjusted, no Adj Close
    # FB (renamed META on 2022-06-09) is priced from META's file, under the name the holdings use.
    meta = source.daily_ohlc(["META"], day, day).iloc[0]
    assert RENAMES["FB"] == "META" and rows.loc["FB", "adj_close"] == meta["adj_close"]
    assert source.last_refused == [] and source.last_unreadable == {}


def test_an_earlier_folder_wins_for_a_ticker(tmp_path):
    for name, close in (("first", 1.5), ("second", 9.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "SPY.csv").write_text(f"date,o,h,l,c,v\n2022-03-10,1,10,0.5,{close},100\n")
    source = ReplaySource(f"{tmp_path / 'second'}:{tmp_path / 'first'}")
    assert source.daily_ohlc(["SPY"], dt.date(2022, 3, 10), dt.date(2022, 3, 10)).close.tolist() == [9.5]
    # A root lists its unknown sub-folders by name.
    assert [f.name for f in resolve_directories(str(tmp_path))] == ["first", "second"]


GOOD_LINES = ["2022-03-08,10,11,9,10.5,10.4,100", "2022-03-09,10,11,9,10.5,10.4,100",
              "2022-03-10,10,11,9,10.5,10.4,100", "2022-03-14,10,11,9,10.5,10.4,100"]


def write_yahoo(path, lines):
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(lines) + "\n")


@pytest.mark.parametrize("bad, problem", [
    ("2022-03-1O,10,11,9,10.5,10.4,100", "date '2022-03-1O' is not a date"),
    ("2022-03-11,10,11,9,10.5,10.4,100,7", "8 fields where the header has 7"),
    ("2022-03-11,10,eleven,9,10.5,10.4,100", "not a number: high 'eleven'"),
])
def test_a_malformed_line_is_refused_with_file_line_and_text_and_the_rest_reads(tmp_path, bad, problem):
    write_yahoo(tmp_path / "XLK.csv", [*GOOD_LINES[:3], bad, GOOD_LINES[3]])
    source = ReplaySource(str(tmp_path))
    rows = source.daily_ohlc(["XLK"], dt.date(2022, 3, 1), dt.date(2022, 3, 31))
    assert rows.trade_date.tolist() == [dt.date(2022, 3, d) for d in (8, 9, 10, 14)]
    [refused] = source.last_refused
    assert refused.rule == "malformed_line"
    assert refused.reason.startswith(f"{tmp_path / 'XLK.csv'} line 5: {problem}")
    assert json.loads(refused.payload)["text"] == bad  # the raw text, not a NaN
    assert json.loads(refused.payload)["line"] == 5 and source.last_unreadable == {}
    # A run whose window cannot hold the line's date does not see it (the dates around it bound an unreadable one).
    source.daily_ohlc(["XLK"], dt.date(2022, 3, 14), dt.date(2022, 3, 31))
    assert source.last_refused == []
    source.daily_ohlc(["XLK"], dt.date(2022, 3, 1), dt.date(2022, 3, 9))
    assert source.last_refused == []


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    ("Date,Open,High,Low,Close,Adj Close,Volume\n2022-03-10,10,11,9,10.5,10.4,100\n".encode("utf-16"), "not UTF-8"),
    (b"Date,Open,High,Low,Close,Volume\n2022-03-10,10,11,9,10.\xe9,100\n", "not UTF-8"),
    (b"when,what\n2022-03-10,1\n", "not a daily price file"),
])
def test_an_unreadable_file_fails_only_its_ticker_named(tmp_path, content, problem):
    (tmp_path / "XLK.csv").write_bytes(content)
    write_yahoo(tmp_path / "XLF.csv", GOOD_LINES)
    source = ReplaySource(str(tmp_path))
    rows = source.daily_ohlc(["XLK", "XLF"], dt.date(2022, 3, 1), dt.date(2022, 3, 31))
    assert set(rows.ticker) == {"XLF"} and len(rows) == 4
    assert list(source.last_unreadable) == ["XLK"] and problem in source.last_unreadable["XLK"]
    assert str(tmp_path / "XLK.csv") in source.last_unreadable["XLK"]
    [refused] = source.last_refused
    assert (refused.rule, refused.record_key) == ("unreadable_file", "XLK") and problem in refused.reason


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="TRENDFOLIO_REPLAY_DIR"):
        ReplaySource(str(tmp_path / "absent"))
