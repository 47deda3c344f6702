"""The ETF universe the pipeline watches."""

BENCHMARK = "SPY"  # excess returns are measured against it
BENCHMARK_ETFS = ("SPY", "QQQ", "DIA", "IWM")
SECTOR_ETFS = ("XLK", "XLF", "XLE", "XLV", "XLY", "XLP", "XLI", "XLB", "XLU", "XLRE", "XLC")
ALL_ETFS = BENCHMARK_ETFS + SECTOR_ETFS


def etf_role(ticker: str) -> str:
    if ticker in BENCHMARK_ETFS:
        return "benchmark"
    if ticker in SECTOR_ETFS:
        return "sector"
    raise ValueError(f"{ticker} is not in the ETF universe")
