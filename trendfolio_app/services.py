"""The long-running local services a `trendfolio` command starts (the Dagster UI, the API, Airflow): each records
its URL and process id under the local stack's folder while it runs, so `trendfolio status` and the hints after a run
show the real ports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from trendfolio import settings
from trendfolio.stack.host import wait_for_port


def _file(name: str) -> Path:
    return settings.local_stack_paths().root / "services" / f"{name}.json"


def record(name: str, url: str, pid: int | None = None) -> None:
    """Best effort: a read-only folder (a container's) only means `status` cannot show the service."""
    path = _file(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"url": url, "pid": pid or os.getpid()}))
    except OSError:
        pass


def forget(name: str) -> None:
    try:
        _file(name).unlink(missing_ok=True)
    except OSError:
        pass


def running(name: str) -> str | None:
    """The URL of service `name` when its process is alive and its port answers; None otherwise."""
    try:
        entry = json.loads(_file(name).read_text())
        os.kill(entry["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    url = urlsplit(entry["url"])
    return entry["url"] if wait_for_port(url.port, timeout_s=0.5, host=url.hostname) else None
