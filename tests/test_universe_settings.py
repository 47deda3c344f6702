"""The universe as settings: the ETF lists and the holdings per ETF, checked in one line, and `top_n` honoured by
every source."""

import datetime as dt

import pytest

from resources import MarketDataResource
from trendfolio.settings import SettingInvalid
from trendfolio.sources import make_source
from trendfolio.sources.synthetic import SECTOR_HOLDINGS, SyntheticSource
from trendfolio.universe import ALL_ETFS, HOLDINGS_PER_ETF, Universe
from trendfolio.validation import validate_holdings

NIGHT = dt.date(2022, 3, 14)  # inside the replay's holdings window


def test_the_defaults_are_the_documented_universe(monkeypatch):
    for name in ("TRENDFOLIO_BENCHMARK_ETFS", "TRENDFOLIO_SECTOR_ETFS", "TRENDFOLIO_HOLDINGS_PER_ETF"):
        monkeypatch.delenv(name, raising=False)
    universe = Universe.from_environment()
    assert universe.etfs == ALL_ETFS and universe.holdings_per_etf == HOLDINGS_PER_ETF
    assert MarketDataResource().universe() == universe


def test_a_configured_universe_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRENDFOLIO_BENCHMARK_ETFS", "SPY, QQQ")
    monkeypatch.setenv("TRENDFOLIO_SECTOR_ETFS", "XLK,XLE,XBI")
    monkeypatch.setenv("TRENDFOLIO_HOLDINGS_PER_ETF", "100")
    universe = Universe.from_environment()
    assert universe.etfs == ("SPY", "QQQ", "XLK", "XLE", "XBI") and universe.holdings_per_etf == 100
    assert [universe.role(t) for t in ("QQQ", "XBI")] == ["benchmark", "sector"]


BAD_SETTINGS = {
    "holdings zero": ({"TRENDFOLIO_HOLDINGS_PER_ETF": "0"}, "TRENDFOLIO_HOLDINGS_PER_ETF='0' is not a number"),
    "holdings text": ({"TRENDFOLIO_HOLDINGS_PER_ETF": "ten"}, "TRENDFOLIO_HOLDINGS_PER_ETF='ten' is not a number"),
    "lower case": ({"TRENDFOLIO_SECTOR_ETFS": "XLK,xle"}, "TRENDFOLIO_SECTOR_ETFS='XLK,xle' is not a comma-separated"),
    "empty entry": ({"TRENDFOLIO_SECTOR_ETFS": "XLK,,XLE"}, "TRENDFOLIO_SECTOR_ETFS='XLK,,XLE' is not a comma-sep"),
    "repeated": ({"TRENDFOLIO_SECTOR_ETFS": "XLK,XLE,XLK"}, "TRENDFOLIO_SECTOR_ETFS names XLK more than once"),
    "no SPY": ({"TRENDFOLIO_BENCHMARK_ETFS": "QQQ"}, "TRENDFOLIO_BENCHMARK_ETFS must include SPY"),
    "both roles": ({"TRENDFOLIO_SECTOR_ETFS": "XLK,QQQ"}, "QQQ is both a benchmark"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_a_wrong_universe_setting_is_refused_in_one_line_naming_it(monkeypatch, case):
    variables, expected = BAD_SETTINGS[case]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingInvalid) as raised:
        Universe.from_environment()
    message = str(raised.value)
    assert message.startswith(expected) and "\n" not in message, message


def test_synthetic_lists_top_n_holdings_largest_first():
    default = SyntheticSource().etf_holdings("XLK", NIGHT)
    assert default.holding_ticker.tolist() == list(SECTOR_HOLDINGS["XLK"])  # the default list is the real tickers
    three = SyntheticSource(top_n=3).etf_holdings("XLK", NIGHT)
    assert three.holding_ticker.tolist() == default.holding_ticker.tolist()[:3]
    assert three.weight.tolist() == default.weight.tolist()[:3]

    wide = MarketDataResource(source="synthetic", holdings_per_etf=100).client()
    for etf in ("XLK", "SPY"):
        listed = wide.etf_holdings(etf, NIGHT)
        assert len(listed) == 100 and listed.holding_ticker.is_unique, etf
        assert listed.weight.is_monotonic_decreasing and 0 < listed.weight.sum() <= 1, etf
        assert not validate_holdings(listed.assign(as_of_date=NIGHT), [(etf, NIGHT)]).rejected, etf
    made_up = wide.etf_holdings("XLK", NIGHT).holding_ticker.tolist()[10:]
    assert made_up[0] == "XLK-011" and made_up[-1] == "XLK-100"
    prices = wide.daily_ohlc(made_up[:2], dt.date(2022, 3, 1), NIGHT)
    assert set(prices.ticker) == set(made_up[:2]) and prices.groupby("ticker").size().min() == 10


def test_synthetic_gives_a_configured_sector_a_path_and_holdings_of_its_own():
    source = MarketDataResource(source="synthetic", sector_etfs="XLK,XBI", holdings_per_etf=12).client()
    assert source.etf_holdings("XBI", NIGHT).holding_ticker.tolist() == [f"XBI-{n:03d}" for n in range(1, 13)]
    closes = source.daily_ohlc(["XBI", "XLK"], dt.date(2022, 1, 3), NIGHT).pivot(
        index="trade_date", columns="ticker", values="close")
    assert closes.notna().all().all() and not closes["XBI"].equals(closes["XLK"])


def test_replay_cuts_each_snapshot_to_top_n(shared_marketdata):
    everything = make_source("replay", directories=str(shared_marketdata), top_n=None).etf_holdings("XLK", NIGHT)
    assert len(everything) > 25, "the XLK snapshot should list more than 25 holdings"
    for count in (3, 25):
        listed = MarketDataResource(source="replay", replay_dir=str(shared_marketdata),
                                    holdings_per_etf=count).client().etf_holdings("XLK", NIGHT)
        assert listed.holding_ticker.tolist() == everything.holding_ticker.tolist()[:count]


def test_yfinance_keeps_top_n_of_yahoos_list_and_refuses_more_than_it_lists(shared_marketdata, tmp_path):
    import yfinance as yf

    from trendfolio.devtools.yahoo_recorded_server import RecordedYahoo, serve
    from trendfolio.sources.replay import ReplaySource

    replay = ReplaySource(shared_marketdata)
    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))
    with serve(RecordedYahoo(shared_marketdata, replay=replay, holdings_as_of=NIGHT)) as base:
        listed = MarketDataResource(source="yfinance", yahoo_base_url=base, yahoo_requests_per_second=1000,
                                    holdings_per_etf=4).client().etf_holdings("XLK", NIGHT)
    assert listed.holding_ticker.tolist() == replay.etf_holdings("XLK", NIGHT).holding_ticker.tolist()[:4]
    with pytest.raises(SettingInvalid, match="TRENDFOLIO_HOLDINGS_PER_ETF=11: the yfinance source lists at most 10"):
        MarketDataResource(source="yfinance", holdings_per_etf=11).client()
