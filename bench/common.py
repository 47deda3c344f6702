"""What every benchmark shares: a private embedded stack, machine and commit facts, the results table, the RSS sampler.

Every figure is a ratio of two things measured in the same run, side by side, so that it holds on a shared, noisy
machine; the absolute times go beside it in `bench/RESULTS.md`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pandas as pd
import psutil
import psycopg

from trendfolio import settings, stack

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
GIB = 1024**3


# --- outcome and report ------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """One benchmark's result: the ratio against its target plus the absolute figures it came from."""

    number: int | str  # 2b is benchmark 2's second yardstick
    name: str
    measured_as: str
    figure: float | None  # the ratio (or GiB, or request count) checked against the target; None = not measured
    target: str
    passed: bool | None  # None = not measured
    details: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "not measured"}[self.passed]


def within(figure: float, limit: float) -> bool:
    return figure <= limit


def at_least(figure: float, limit: float) -> bool:
    return figure >= limit


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table whose columns line up in a terminal too."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=settings.REPO_ROOT, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=settings.REPO_ROOT).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.node()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / GIB:.1f} GiB RAM, "
            f"load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} (1/5/15 min) at start")


def render(outcome: Outcome, started: str, machine_line: str, commit: str) -> str:
    figure = "—" if outcome.figure is None else f"{outcome.figure:.3g}"
    lines = [
        f"### {outcome.number}. {outcome.name} — {outcome.verdict}",
        "",
        f"{started} · commit `{commit}` · {machine_line}",
        "",
        f"Measured as: {outcome.measured_as}",
        "",
        format_table(["figure", "target", "verdict"], [[figure, outcome.target, outcome.verdict]]),
        "",
    ]
    if outcome.details:
        lines += [format_table(["measurement", "value"], [[k, v] for k, v in outcome.details.items()]), ""]
    lines += [f"- {note}" for note in outcome.notes]
    return "\n".join(lines).rstrip() + "\n"


def report(outcomes: list[Outcome], started: str, machine_line: str, commit: str, record: bool = True) -> int:
    """Print each outcome, append it to RESULTS.md, and return the exit code: 1 when a measured target was missed."""
    texts = [render(o, started, machine_line, commit) for o in outcomes]
    for text in texts:
        print(text)
    exit_code = 1 if any(o.passed is False for o in outcomes) else 0
    if not record:
        return exit_code
    if not RESULTS_FILE.exists():
        RESULTS_FILE.write_text("# Benchmark results\n\nAppended by `uv run python -m bench.<name>`; newest last.\n")
    with RESULTS_FILE.open("a") as out:
        for text in texts:
            out.write("\n" + text)
    print(f"appended to {RESULTS_FILE}")
    return exit_code


def run_main(benchmark, record: bool = True) -> None:
    """`benchmark(services) -> list[Outcome]` on a private stack; exit non-zero when a target is missed."""
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine_line, commit = machine(), git_commit()  # as the run starts: RESULTS.md changes after
    with bench_services() as services:
        outcomes = benchmark(services)
    sys.exit(report(outcomes, started, machine_line, commit, record))


# --- a private stack ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Services:
    admin_url: str
    bootstrap_servers: str
    root: Path

    def new_database(self, prefix: str = "bench") -> str:
        """A fresh database with the schema applied; its URL."""
        return stack.create_migrated_database(self.admin_url, f"{prefix}_{uuid.uuid4().hex[:10]}")

    def drop_database(self, url: str) -> None:
        stack.drop_database(self.admin_url, url)

    def superuser_url(self) -> str:
        """The embedded server's bootstrap superuser (for CHECKPOINT); an external server's admin URL as given."""
        if os.environ.get("DATABASE_URL"):
            return self.admin_url
        pg = stack.embedded_postgres(settings.LocalStackPaths(self.root), port=urlparse(self.admin_url).port)
        return pg.bootstrap_url()


@contextlib.contextmanager
def bench_services() -> Iterator[Services]:
    """Embedded PostgreSQL and broker on free ports in a temporary folder (or the external DATABASE_URL /
    KAFKA_BOOTSTRAP_SERVERS), stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="trendfolio-bench-") as folder:
        root = Path(folder)
        os.chmod(root, 0o755)
        with stack.private_stack(root) as (admin_url, bootstrap):
            yield Services(admin_url, bootstrap, root)


def resources_for(database_url: str, bootstrap_servers: str, namespace: str, source: str = "synthetic") -> dict:
    from resources import KafkaResource, MarketDataResource, PostgresResource, SparkResource

    return {
        "postgres": PostgresResource(database_url=database_url),
        "kafka": KafkaResource(bootstrap_servers=bootstrap_servers, namespace=namespace),
        "spark": SparkResource(master_url=os.environ.get("SPARK_MASTER_URL", "local[2]")),
        "market_data": MarketDataResource(source=source),
    }


# --- timing and memory -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as elapsed: ...` then `elapsed[0]` is the wall time in seconds."""
    elapsed = [0.0]
    began = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - began


def _processes(root_pid: int, extra_pids: tuple[int, ...]) -> list[psutil.Process]:
    """A process, all its descendants (the Spark JVM is a child of the Python driver) and any extra processes with
    theirs (the embedded PostgreSQL and broker, which are not our children once daemonized)."""
    found: dict[int, psutil.Process] = {}
    for pid in (root_pid, *extra_pids):
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for member in (process, *process.children(recursive=True)):
                found[member.pid] = member
    return list(found.values())


def memory_of(processes: list[psutil.Process]) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in bytes. RSS counts a shared page once per process that maps it (PostgreSQL's
    shared buffers in every backend); PSS splits it among them, so its sum is the memory the processes really take."""
    rss = pss = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
    return rss, pss


class PeakRss:
    """Samples the memory of a process tree (plus extra processes) every `interval_s` on a thread."""

    def __init__(self, root_pid: int | None = None, extra_pids: tuple[int, ...] = (), interval_s: float = 0.25):
        self.root_pid = root_pid or os.getpid()
        self.extra_pids = extra_pids
        self.interval_s = interval_s
        self.peak_rss = self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, pss = memory_of(_processes(self.root_pid, self.extra_pids))
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def copy_frame(database_url: str, table: str, frame: pd.DataFrame, chunk_rows: int = 200_000) -> None:
    """COPY … FROM STDIN (CSV) of the frame's columns into `table`, in one transaction."""
    columns = list(frame.columns)
    with psycopg.connect(database_url) as conn:
        with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
            for begin in range(0, len(frame), chunk_rows):
                buffer = io.StringIO()
                frame.iloc[begin:begin + chunk_rows].to_csv(buffer, header=False, index=False)
                copy.write(buffer.getvalue())


def service_pids(services: Services) -> tuple[int, ...]:
    """The embedded PostgreSQL postmaster, broker and (when one runs) Spark Connect server PIDs under the bench's
    temporary folder (empty when external)."""
    paths = settings.LocalStackPaths(services.root)
    pids = []
    with contextlib.suppress(OSError, ValueError):
        pids.append(int((paths.pgdata / "postmaster.pid").read_text().splitlines()[0]))
    pids += [pid for pid in (stack.embedded_broker(paths).pid(), stack.spark_connect_server(paths).pid()) if pid]
    return tuple(pids)


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"
