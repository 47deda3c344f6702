"""What the local stack needs from the host: a writable data folder, free ports, and the identity of a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from trendfolio.processes import process_start, runs_program
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


@dataclass
class StackProcess:
    """A service of the stack that runs as a process of its own (the broker, the Spark Connect server), found again
    through its pid file: "PID START" with the start time (`process_start`), so that a stale file (its process gone,
    the pid reused by an unrelated process) is not trusted: that process is not ours to report or to signal."""

    log_file: Path
    pid_file: Path

    def program(self) -> str:
        """The executable the service's process runs (a path or a bare name)."""
        raise NotImplementedError

    def pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        pid, _, started = self.pid_file.read_text().strip().partition(" ")
        if not pid.isdigit() or not runs_program(int(pid), self.program()):
            return None
        if started and process_start(int(pid)) != started:
            return None
        return int(pid)

    def is_running(self) -> bool:
        return self.pid() is not None

    def launch(self, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
        """Start `command` in a session of its own (it outlives the command that started it), its output appended to
        the log file, and record it in the pid file."""
        make_folder(self.log_file.parent)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, env=env, cwd=cwd)
        self.pid_file.write_text(f"{process.pid} {process_start(process.pid)}")
        return process

    def stop(self, timeout_s: float = 10) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; a stale pid file is removed without signalling anything."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.1)
        if self.is_running():
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
