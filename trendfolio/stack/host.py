"""What the local stack needs from the host: a writable data folder, free ports, and the identity of a process."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from trendfolio.settings import StackError

def make_folder(path: Path) -> None:
    """The stack's data folder (TRENDFOLIO_HOME and below), or one line that says why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.touch()
        probe.unlink()
    except FileExistsError:
        raise StackError(f"TRENDFOLIO_HOME: {path} is a file, not a folder: point TRENDFOLIO_HOME at a folder") from None
    except OSError as error:
        raise StackError(f"TRENDFOLIO_HOME: cannot keep the stack's data in {path} ({error.strerror or error}): "
                         "point TRENDFOLIO_HOME at a writable folder") from None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False
