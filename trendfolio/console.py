"""What the `trendfolio` commands print: the outcome in a few lines, the libraries' own logs in a file.

By default a run prints one line per asset and the warnings that matter; Dagster's event log (DEBUG), Spark's JVM
output (log4j, `WARNING: Using incubator modules`) and library warnings go to a log file under the local stack's
folder, which the last line names. `--verbose` leaves them on the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

# Dagster marks parameters we rely on as beta (`backfill_policy`), nothing the operator can act on; platformdirs warns
# when XDG_RUNTIME_DIR is unset.
NOISY_WARNINGS = (r".*is currently in (beta|preview)", r".*XDG_RUNTIME_DIR")


def mask_url(url: str) -> str:
    """`url` with its password replaced by `***`, for printing."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable URL>"


def silence_library_warnings() -> None:
    for message in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    # py4j logs "Closing down clientserver connection" at exit, through handlers whose stream may be closed by then.
    logging.getLogger("py4j").setLevel(logging.ERROR)


@contextlib.contextmanager
def stderr_to(log_file: Path) -> Iterator[Path]:
    """Send file descriptor 2 (Python's stderr and every child process's, such as Spark's JVM) to `log_file` for
    the duration; the JVM keeps writing there after the block."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield log_file
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
