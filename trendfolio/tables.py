"""Every warehouse table, described once: its name, key, the column that dates its rows, its kind, what it holds and
what each column means. Every list of tables in the code (the consumer's, the CLI's, the API's status, the tests') is
derived from `TABLES`; the Dagster assets take their descriptions and column schemas from here too. The DDL lives in
sql/ (migrations are append-only); tests/test_schema.py checks that the two agree."""

from __future__ import annotations

from dataclasses import dataclass

COLLECTED, ANALYTICS, OPS = "collected", "analytics", "ops"
# Set by PostgreSQL when a row is written, so they are not part of a table's `schema` (and differ between two runs).
LOAD_TIME_COLUMNS = ("collected_at", "computed_at", "created_at", "fetched_at")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    kind: str  # COLLECTED | ANALYTICS | OPS
    key: tuple[str, ...]
    date_column: str  # the column that dates a row: a pipeline table's partition (session) column
    description: str
    schema: tuple[Column, ...]  # in table order; a collected table's written columns, in the order it writes them
    # Collected tables only: how the consumer types a message's fields (everything else is a float).
    date_columns: tuple[str, ...] = ()
    integer_columns: tuple[str, ...] = ()
    text_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.schema)

    @property
    def ticker_column(self) -> str:
        """The column naming the ticker a collected row is for (the first key column)."""
        return self.key[0]

    def record_key(self, row: dict) -> str:
        return "|".join(str(row[column]) for column in self.key)


def _ohlc(subject: str) -> tuple[Column, ...]:
    return (
        Column("open", "double precision", f"{subject}'s opening price of the session (> 0)"),
        Column("high", "double precision", "highest price of the session, at least max(open, close)"),
        Column("low", "double precision", "lowest price of the session, at most min(open, close)"),
        Column("close", "double precision", "closing price of the session, as traded"),
        Column("adj_close", "double precision", "close adjusted for splits and dividends: what returns are read from"),
        Column("volume", "bigint", "shares traded in the session (>= 0)"),
    )


_SOURCE = Column("source", "text", "market-data source of the row: synthetic, replay or yfinance")
_TICKER = Column("ticker", "text", "exchange ticker")
_TRADE_DATE = Column("trade_date", "date", "NYSE session the prices are for")
_SESSION_DATE = Column("session_date", "date", "NYSE session the row was computed for (the partition)")
_ETF_ROLE = Column("etf_role", "text", "benchmark (SPY) or sector")
_HORIZON = Column("horizon", "smallint", "holding horizon in sessions: 5, 10 or 20")
_EVALUATED_ON = Column("evaluated_on", "date", "session the horizon ends on (the partition)")

DAILY_ETF_OHLC = Table(
    name="collected_01_daily_etf_ohlc",
    kind=COLLECTED,
    key=("ticker", "trade_date"),
    date_column="trade_date",
    description="Daily OHLC of the benchmark (SPY) and the sector ETFs, validated and written through Kafka.",
    schema=(_TICKER, _TRADE_DATE,
            _ETF_ROLE,
            *_ohlc("the ETF"), _SOURCE),
    date_columns=("trade_date",),
    integer_columns=("volume",),
    text_columns=("ticker", "etf_role", "source"),
)
TRENDING_ETFS = Table(
    name="analytics_03_trending_etfs",
    kind=ANALYTICS,
    key=("session_date", "ticker"),
    date_column="session_date",
    description="Each ETF's multi-horizon performance against SPY on each session, and whether its sector is "
                "trending under the named rule (Spark).",
    schema=(_SESSION_DATE, _TICKER,
            _ETF_ROLE,
            Column("adj_close", "double precision", "adjusted close on the session"),
            *(Column(f"ret_{n}", "double precision", f"return over the last {n} sessions") for n in (5, 10, 20, 60)),
            *(Column(f"excess_{n}", "double precision", f"ret_{n} minus SPY's ret_{n}") for n in (5, 10, 20, 60)),
            Column("vol_20", "double precision", "standard deviation of daily returns over 20 sessions"),
            Column("ma_50", "double precision", "50-session moving average of adj_close"),
            Column("above_ma_50", "boolean", "adj_close is above ma_50 (the trend filter)"),
            Column("score", "double precision", "composite score: the rule's weighted sum of the excess returns"),
            Column("score_rank", "integer", "rank of score among the sector ETFs on the session (1 = best)"),
            Column("is_trending", "boolean", "selected by the rule: in the top N and above its 50-session average"),
            Column("rule", "text", "the rule and its parameters that decided is_trending"),
            _SOURCE,
            Column("selection", "text", "why the ETF is or is not trending: trending, not_top_n, below_ma_50, "
                                        "insufficient_history, benchmark or benchmark_held")),
)
ETF_HOLDINGS = Table(
    name="collected_04_etf_holdings",
    kind=COLLECTED,
    key=("etf_ticker", "as_of_date", "holding_ticker"),
    date_column="as_of_date",
    description="The holdings of each session's trending ETFs, as the source listed them on that date.",
    schema=(Column("etf_ticker", "text", "the trending ETF"),
            Column("as_of_date", "date", "session the list was fetched for (Yahoo gives no as-of date of its own)"),
            Column("holding_ticker", "text", "ticker of the held stock"),
            Column("holding_name", "text", "the stock's name, when the source gives one"),
            Column("weight", "double precision", "the stock's share of the ETF, a fraction in (0, 1]"),
            _SOURCE),
    date_columns=("as_of_date",),
    text_columns=("etf_ticker", "holding_ticker", "holding_name", "source"),
)
DAILY_STOCK_HISTORY = Table(
    name="collected_06_daily_stock_history",
    kind=COLLECTED,
    key=("ticker", "trade_date"),
    date_column="trade_date",
    description="Daily OHLC of every stock a trending ETF holds, over the history the allocation needs.",
    schema=(_TICKER, _TRADE_DATE, *_ohlc("the stock"), _SOURCE),
    date_columns=("trade_date",),
    integer_columns=("volume",),
    text_columns=("ticker", "source"),
)
PORTFOLIO_ALLOCATION = Table(
    name="analytics_05_portfolio_allocation",
    kind=ANALYTICS,
    key=("session_date", "horizon", "ticker"),
    date_column="session_date",
    description="The portfolio of each session for each horizon (5, 10, 20 sessions): tickers and weights (Spark).",
    schema=(_SESSION_DATE,
            _HORIZON,
            _TICKER,
            Column("weight", "double precision", "share of the portfolio, in [0, 1]; a horizon's weights sum to 1"),
            Column("score", "double precision", "the stock's score over the horizon"),
            Column("volatility", "double precision", "the stock's volatility over the horizon"),
            Column("source_etfs", "text", "comma-separated trending ETFs whose holdings brought the ticker in"),
            Column("method", "text", "weighting scheme or fallback that produced the row"),
            Column("prices_as_of", "date", "last session of the prices used"),
            Column("holdings_as_of", "date", "date of the holdings list used"),
            _SOURCE,
            Column("constraint_note", "text", "a cap that had to be relaxed, and to what (null: both caps hold as "
                                              "configured)")),
)
PORTFOLIO_PERFORMANCE = Table(
    name="analytics_07_portfolio_performance",
    kind=ANALYTICS,
    key=("evaluated_on", "horizon"),
    date_column="evaluated_on",
    description="Realized performance: each allocation's return once its horizon has elapsed, against SPY, with "
                "running hit rate and cumulative returns per horizon (Spark).",
    schema=(_EVALUATED_ON,
            Column("session_date", "date", "session the allocation was built for"),
            _HORIZON,
            Column("holdings", "integer", "number of tickers in the allocation"),
            Column("portfolio_return", "double precision",
                   "the allocation's return over the horizon (null when unpriced)"),
            Column("benchmark_return", "double precision", "SPY's return over the same sessions"),
            Column("excess_return", "double precision", "portfolio_return minus benchmark_return"),
            Column("hit", "boolean", "excess_return > 0, for an evaluated allocation (null for the other statuses)"),
            Column("evaluations", "integer", "evaluated allocations of this horizon in the track so far (running)"),
            Column("hits", "integer", "of those, how many beat SPY (running)"),
            Column("hit_rate", "double precision", "hits / evaluations (null while evaluations is 0)"),
            Column("cumulative_return", "double precision",
                   "compounded portfolio_return over the track so far, unpriced allocations left out (running)"),
            Column("cumulative_benchmark_return", "double precision",
                   "compounded benchmark_return over the same allocations (running)"),
            _SOURCE,
            Column("status", "text", "evaluated, benchmark_held (fallback_benchmark: a tie, outside hits and hit "
                                     "rate, in the curves) or unpriced (a holding lacks a price at either end)"),
            Column("method", "text", "the allocation's method (analytics_05)"),
            Column("unpriced_tickers", "text", "comma-separated holdings without a price, for an unpriced row"),
            Column("benchmark_held", "integer", "benchmark-held allocations in the track so far (running)"),
            Column("unpriced", "integer", "unpriced allocations in the track so far (running)"),
            Column("track_start", "date", "first session of the uninterrupted track the running figures cover: a "
                                          "session whose previous session has no row of the horizon starts one")),
)

def _running(doc: str) -> str:
    return f"{doc} (running, per horizon, over the stored rows of analytics_07's track up to evaluated_on)"


PORTFOLIO_BASELINES = Table(
    name="analytics_08_portfolio_baselines",
    kind=ANALYTICS,
    key=("evaluated_on", "horizon"),
    date_column="evaluated_on",
    description="Each evaluated portfolio against three baselines over the same sessions (the trending ETFs and the "
                "11 sector ETFs equally weighted, SPY), with turnover, return net of costs, and running hit rates, "
                "curves, max drawdown and volatility per horizon (Spark).",
    schema=(_EVALUATED_ON,
            Column("session_date", "date", "session the portfolio was built for"),
            _HORIZON,
            Column("method", "text", "the portfolio's weighting scheme or fallback (analytics_05)"),
            Column("holdings", "integer", "number of tickers in the portfolio"),
            Column("portfolio_return", "double precision", "the portfolio's return over the horizon"),
            Column("trending_etfs_return", "double precision",
                   "the session's trending ETFs equally weighted (SPY when none trends)"),
            Column("sector_etfs_return", "double precision", "the sector ETFs (by default the 11) equally weighted"),
            Column("spy_return", "double precision", "SPY over the same sessions"),
            Column("excess_vs_trending_etfs", "double precision", "portfolio_return minus trending_etfs_return"),
            Column("excess_vs_sector_etfs", "double precision", "portfolio_return minus sector_etfs_return"),
            Column("excess_vs_spy", "double precision", "portfolio_return minus spy_return"),
            Column("turnover", "double precision", "Σ|Δw| / 2 against the previous session's portfolio of the horizon "
                                                   "(null: none stored)"),
            Column("cost_per_turnover", "double precision", "trading cost per unit of turnover (run config)"),
            Column("net_return", "double precision", "portfolio_return minus cost_per_turnover × turnover"),
            Column("evaluations", "integer", _running("portfolios evaluated")),
            Column("hit_rate_vs_trending_etfs", "double precision", _running("share beating the trending ETFs")),
            Column("hit_rate_vs_sector_etfs", "double precision", _running("share beating the 11 sectors")),
            Column("hit_rate_vs_spy", "double precision", _running("share beating SPY")),
            Column("cumulative_return", "double precision", _running("compounded portfolio_return")),
            Column("cumulative_net_return", "double precision", _running("compounded net_return")),
            Column("cumulative_trending_etfs_return", "double precision", _running("compounded trending_etfs_return")),
            Column("cumulative_sector_etfs_return", "double precision", _running("compounded sector_etfs_return")),
            Column("cumulative_spy_return", "double precision", _running("compounded spy_return")),
            Column("max_drawdown", "double precision", _running("deepest fall of the cumulative_return curve (<= 0)")),
            Column("annualized_volatility", "double precision",
                   _running("sample standard deviation of the per-session rates × √252")),
            _SOURCE),
)
DEAD_LETTERS = Table(
    name="ops_dead_letters",
    kind=OPS,
    key=("id",),
    date_column="partition_date",
    description="Quarantine: every row or message refused on its way in, with the rule it broke and what it was.",
    schema=(Column("id", "bigint", "row number"),
            Column("target_table", "text", "the table the row was meant for"),
            Column("stage", "text", "validation (before Kafka) or consumer (read back from Kafka)"),
            Column("partition_date", "date", "session of the run that refused it (validation stage)"),
            Column("record_key", "text", "the row's key, as far as it could be read"),
            Column("rule", "text", "the rule broken (the first one)"),
            Column("reason", "text", "what was wrong, in words"),
            Column("payload", "text", "the row or message as received (JSON, or escaped raw bytes)"),
            Column("source", "text", "market-data source (validation stage)"),
            Column("run_id", "text", "Dagster run that refused it (validation stage)"),
            Column("kafka_partition", "integer", "where the refused message was (consumer stage)"),
            Column("kafka_offset", "bigint", "where the refused message was (consumer stage)"),
            Column("kafka_batch_row", "integer",
                   "the refused row's position in its batch message; NULL when the whole message was refused")),
)
WAREHOUSE_IDENTITY = Table(
    name="ops_warehouse_identity",
    kind=OPS,
    key=("warehouse_id",),
    date_column="made_on",
    description="One row: a random identity made once per warehouse, from which the default Kafka namespace is derived "
                "(two warehouses on one broker never share a topic).",
    schema=(Column("warehouse_id", "uuid", "random, made by migration 011"),
            Column("made_on", "date", "when it was made")),
)
COLLECTION_FETCHES = Table(
    name="ops_collection_fetches",
    kind=OPS,
    key=("table_name", "ticker", "session_date"),
    date_column="session_date",
    description="Each (ticker, session) a collection asset asked its source for, recorded after its ingest completed: "
                "a re-run finding all of its pairs here asks the source nothing.",
    schema=(Column("table_name", "text", "the collected table"),
            Column("ticker", "text", "the ticker asked for (an ETF for holdings)"),
            Column("session_date", "date", "the session asked for"),
            Column("source", "text", "market-data source asked"),
            Column("stored", "boolean", "a row for it is stored (false: the source had none, or it was refused)")),
)

# A view, not a table (sql/016): each portfolio's turnover against the previous session's, for every portfolio.
PORTFOLIO_TURNOVER_VIEW = "analytics_05_portfolio_turnover"
# The same rows for the portfolios of a range of sessions (sql/017, its sum in ticker order since sql/019; the one
# place the turnover is computed, the view is defined through it): `{PORTFOLIO_TURNOVER_BETWEEN}(first, last)` reads
# only the range and the session before it.
PORTFOLIO_TURNOVER_BETWEEN = "analytics_05_portfolio_turnover_between"

# In pipeline order: the order the nightly job writes them.
TABLES: tuple[Table, ...] = (DAILY_ETF_OHLC, TRENDING_ETFS, ETF_HOLDINGS, DAILY_STOCK_HISTORY, PORTFOLIO_ALLOCATION,
                             PORTFOLIO_PERFORMANCE, PORTFOLIO_BASELINES, DEAD_LETTERS, COLLECTION_FETCHES,
                             WAREHOUSE_IDENTITY)
BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}
PIPELINE_TABLES: tuple[Table, ...] = tuple(table for table in TABLES if table.kind != OPS)
COLLECTED_TABLES: tuple[Table, ...] = tuple(table for table in TABLES if table.kind == COLLECTED)
