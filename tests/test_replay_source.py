"""The replay source's parsing as plain calls: small files in each header spelling of ../shared/marketdata, and the
real files where a fact about them matters."""

import datetime as dt

import pytest

from trendfolio.sources import make_source
from trendfolio.sources.replay import ReplaySource, resolve_directories

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


def test_a_marketdata_root_stands_for_its_default_folders(shared_marketdata):
    folders = resolve_directories(str(shared_marketdata))
    assert [f.name for f in folders] == ["phainia_notification", "guydekowski_market-lab", "jmaslek_etf_scraper"]
    source = make_source("replay", directories=str(shared_marketdata))
    assert source.name == "replay"
    # jmiloser's tz-aware Yahoo CSV reads through the same path.
    xlc = ReplaySource(str(shared_marketdata / "jmiloser_ichimoku")).daily_ohlc(
        ["XLC"], dt.date(2018, 6, 1), dt.date(2018, 6, 19))
    assert xlc.trade_date.tolist() == [dt.date(2018, 6, 19)]
    assert xlc.close.iloc[0] != xlc.adj_close.iloc[0]


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="TRENDFOLIO_REPLAY_DIR"):
        ReplaySource(str(tmp_path / "absent"))
