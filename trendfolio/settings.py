"""Where each service is, with the embedded stack as the default.

Every setting is an environment variable so that the same code runs against the embedded stack on a laptop, the
services in docker-compose, or managed ones. `apply_local_defaults()` fills in only what the user has not set; only the
CLI and the local code location (workspace.yaml) call it. A production process reads the environment as it is and
`require()`s what it cannot run without.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Documented local defaults (the embedded stack listens on 127.0.0.1 only).
DEFAULT_PG_PORT = 54329
DEFAULT_KAFKA_PORT = 59092
DEFAULT_SPARK_CONNECT_PORT = 15002
DEFAULT_PG_USER = "trendfolio"  # owns the warehouse; not a superuser
BOOTSTRAP_PG_USER = "postgres"  # the embedded cluster's superuser, for setting up roles and databases only
DEFAULT_PG_PASSWORD = "trendfolio"
DEFAULT_PG_DATABASE = "trendfolio"
DAGSTER_DATABASE = "dagster"


@dataclass(frozen=True)
class LocalStackPaths:
    root: Path

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def pg_log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def broker_log(self) -> Path:
        return self.root / "broker.log"

    @property
    def broker_pid(self) -> Path:
        return self.root / "broker.pid"

    @property
    def spark_connect_dir(self) -> Path:
        return self.root / "spark-connect"

    @property
    def spark_connect_log(self) -> Path:
        return self.root / "spark-connect.log"

    @property
    def spark_connect_pid(self) -> Path:
        return self.root / "spark-connect.pid"


def local_stack_paths() -> LocalStackPaths:
    return LocalStackPaths(Path(os.environ.get("TRENDFOLIO_HOME", REPO_ROOT / ".trendfolio")).resolve())


def pg_port() -> int:
    return int(os.environ.get("TRENDFOLIO_PG_PORT", DEFAULT_PG_PORT))


def kafka_port() -> int:
    return int(os.environ.get("TRENDFOLIO_KAFKA_PORT", DEFAULT_KAFKA_PORT))


def spark_connect_port() -> int:
    return int(os.environ.get("TRENDFOLIO_SPARK_CONNECT_PORT", DEFAULT_SPARK_CONNECT_PORT))


SPARK_CONNECT_VARIABLE = "TRENDFOLIO_SPARK_CONNECT"


def spark_connect_embedded() -> bool:
    """Whether the embedded stack runs a Spark Connect server (TRENDFOLIO_SPARK_CONNECT=embedded)."""
    return os.environ.get(SPARK_CONNECT_VARIABLE, "") == "embedded"


def spark_remote() -> str:
    """The Spark Connect server the runs' analytics use: `sc://host:port` (TRENDFOLIO_SPARK_CONNECT set to it, or
    `embedded` for the embedded stack's on TRENDFOLIO_SPARK_CONNECT_PORT), or "" for Spark in the run's own process
    (SPARK_MASTER_URL), the default."""
    value = os.environ.get(SPARK_CONNECT_VARIABLE, "")
    if value == "embedded":
        return f"sc://127.0.0.1:{spark_connect_port()}"
    if value and not value.startswith("sc://"):
        raise StackError(f"{SPARK_CONNECT_VARIABLE}={value!r}: use embedded (the stack starts a Spark Connect "
                             "server) or sc://host:port (a running one), or leave it unset for Spark in the run's "
                             "process")
    return value


def local_database_url(database: str = DEFAULT_PG_DATABASE, port: int | None = None) -> str:
    return (
        f"postgresql://{DEFAULT_PG_USER}:{DEFAULT_PG_PASSWORD}@127.0.0.1:{port or pg_port()}/{database}"
    )


def external_services() -> set[str]:
    """The services the user pointed elsewhere: the local stack leaves those alone."""
    names = {"DATABASE_URL": "postgres", "KAFKA_BOOTSTRAP_SERVERS": "kafka"}
    external = {service for variable, service in names.items() if os.environ.get(variable)}
    if not os.environ.get("SPARK_MASTER_URL", "local").startswith("local"):
        external.add("spark")
    return external


class StackError(RuntimeError):
    """A problem with the local stack that the user can fix; the message says how."""


class SettingMissing(RuntimeError):
    """A setting a production process cannot run without is not in its environment."""


class SettingInvalid(ValueError):
    """A setting holds a value the pipeline cannot run with; the message names the setting and what it needs."""


# What the code location cannot run without, and what each one is.
REQUIRED = {
    "DATABASE_URL": "the warehouse, a libpq URL postgresql://user:password@host:5432/trendfolio",
    "KAFKA_BOOTSTRAP_SERVERS": "the Kafka broker, host:port[,host:port...]",
    "TRENDFOLIO_SOURCE": "the market-data source: synthetic, replay or yfinance",
}


def require(names: dict[str, str] = REQUIRED) -> None:
    """SettingMissing, in one line naming the first setting of `names` that is unset or empty."""
    for name, meaning in names.items():
        if not os.environ.get(name):
            raise SettingMissing(f"{name} is not set: {meaning} (the local defaults apply only to the trendfolio "
                                 "command and workspace.yaml)")


def apply_local_defaults() -> None:
    """Point every unset setting at the embedded stack (and the synthetic source, which works offline)."""
    os.environ.setdefault("DATABASE_URL", local_database_url())
    os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{kafka_port()}")
    os.environ.setdefault("KAFKA_NAMESPACE", "")  # empty: the warehouse's own (trendfolio/warehouse.py: warehouse_namespace)
    os.environ.setdefault("SPARK_MASTER_URL", "local[2]")
    os.environ.setdefault("TRENDFOLIO_SOURCE", "synthetic")
    # The replay source's folders (see trendfolio/sources/replay.py): the shared real market data next to the repo.
    os.environ.setdefault("TRENDFOLIO_REPLAY_DIR", str(REPO_ROOT.parent / "shared" / "marketdata"))
    # yfinance talks to Yahoo itself unless this names a stand-in (the benchmarks' recorded-response server).
    os.environ.setdefault("TRENDFOLIO_YAHOO_BASE_URL", "")
    for name, value in dagster_instance_defaults().items():
        os.environ.setdefault(name, value)


def dagster_instance_defaults() -> dict[str, str]:
    """The project's Dagster instance: dagster_home/ (its dagster.yaml keeps runs and events in PostgreSQL) on the
    `dagster` database of the embedded server."""
    return {
        "DAGSTER_HOME": str(REPO_ROOT / "dagster_home"),
        # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL.
        "DAGSTER_PG_URL": local_database_url(DAGSTER_DATABASE).replace("postgresql://", "postgresql+psycopg2://"),
    }


def write_dagster_env_file(path: Path = REPO_ROOT / ".env") -> Path:
    """Point Dagster's own commands at the project's instance. `dagster dev`, `dagster asset materialize`,
    dagster-webserver and dagster-daemon load `.env` from the folder they start in before they look at DAGSTER_HOME;
    without DAGSTER_HOME they would use a throwaway `.tmp_dagster_home_*`. DAGSTER_HOME must be an absolute path, so
    the file is written for this checkout (git-ignored). Each value is a default: `${NAME:-default}` keeps a value
    the environment already has. The rest of the file (e.g. the compose settings of .env.example) is kept, and a name
    it already sets is left to it."""
    begin, end = "# >>> trendfolio: Dagster's instance (written by `trendfolio stack up`)", "# <<< trendfolio"
    lines = path.read_text().splitlines() if path.exists() else []
    if begin in lines and end in lines:
        lines = lines[:lines.index(begin)] + lines[lines.index(end) + 1:]
    taken = {line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")}
    defaults = {name: value for name, value in dagster_instance_defaults().items() if name not in taken}
    block = [begin, *(f"{name}=${{{name}:-{value}}}" for name, value in defaults.items()), end] if defaults else []
    path.write_text("\n".join([*lines, *block]) + "\n")
    return path
