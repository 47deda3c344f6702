"""Spark's settings, and the embedded Spark Connect server: one long-lived Spark application started with the stack
(`TRENDFOLIO_SPARK_CONNECT=embedded`), so that a night's analytics pay neither a JVM start nor a cold JIT."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from trendfolio import settings
from trendfolio.settings import StackError
from trendfolio.stack.host import StackProcess, make_folder, port_is_free, wait_for_port
from trendfolio.stack.java import JDBC_MAVEN_PACKAGE, check_spark_prerequisites, jdbc_jar

LOCAL_MASTER = "local[2]"
DRIVER_MEMORY = "2g"
SHUFFLE_PARTITIONS = 2
CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# How long a Connect server may take to open its port: a Spark start took 32 s at load 24 (bench/README.md).
CONNECT_START_TIMEOUT_S = 180


def sql_settings(shuffle_partitions: int) -> dict[str, str]:
    """The SQL settings of a session: part of `spark_config`, and what a Spark Connect client sets on its own
    session (the rest is the server's)."""
    return {
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        # A night is a few thousand rows: adaptive execution re-plans every stage as a job of its own, which made
        # one nightly run 39 small Spark jobs instead of 6 (bench/README.md, benchmark 2).
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
    }


def spark_config(master_url: str, driver_memory: str, shuffle_partitions: int) -> dict[str, str]:
    """The settings of the project's Spark application, in process (SparkResource) or as a Connect server."""
    local = master_url.startswith("local")
    jar = check_spark_prerequisites()["jdbc_jar"] if local else jdbc_jar()
    config = {
        "spark.master": master_url,
        "spark.app.name": "trendfolio",
        "spark.driver.memory": driver_memory,
        **sql_settings(shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.log.structuredLogging.enabled": "false",
        "spark.driver.bindAddress": "127.0.0.1" if local else "0.0.0.0",
    }
    if jar and jar.endswith(".jar"):
        config["spark.jars"] = jar
    else:
        config["spark.jars.packages"] = JDBC_MAVEN_PACKAGE
    return config


def connect_address(url: str) -> tuple[str, int]:
    """(host, port) of a Spark Connect URL `sc://host[:port][/;param=value…]` (the port defaults to 15002)."""
    host, _, port = url.removeprefix("sc://").split("/")[0].partition(":")
    return host, int(port or settings.DEFAULT_SPARK_CONNECT_PORT)


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class SparkConnectServer(StackProcess):
    """`spark-submit` of Spark's Connect server in local mode on 127.0.0.1, with the PostgreSQL JDBC driver on its
    class path, its scratch files and Derby/warehouse folders under `work_dir`. Its Python workers (the allocation's
    `applyInPandas`) run this interpreter, so they import this checkout's code: restart the server (`trendfolio stack
    down`, `up`) after changing the analytics code."""

    port: int = 0
    work_dir: Path = Path()

    def program(self) -> str:
        return "java"  # spark-submit execs spark-class, which execs the JVM

    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.is_running():
            return
        if not port_is_free(self.port):
            raise StackError(f"port {self.port} on 127.0.0.1 is already in use: stop what listens there or choose "
                             "another with TRENDFOLIO_SPARK_CONNECT_PORT")
        make_folder(self.work_dir)
        config = {
            **spark_config(LOCAL_MASTER, DRIVER_MEMORY, SHUFFLE_PARTITIONS),
            "spark.app.name": "trendfolio-connect",
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.local.dir": str(self.work_dir / "tmp"),
            "spark.sql.warehouse.dir": str(self.work_dir / "warehouse"),
            "spark.ui.enabled": "false",
            "spark.log.level": "WARN",
            # The runs' sessions (SparkResource._connect) stay open between nights, their Python workers warm.
            "spark.connect.session.manager.defaultSessionTimeout": "3650d",
        }
        command = [str(spark_home() / "bin" / "spark-submit"), "--class", CONNECT_SERVER_CLASS]
        for key, value in config.items():
            command += ["--conf", f"{key}={value}"]
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
        process = self.launch(command, env=env, cwd=self.work_dir)
        deadline = time.monotonic() + CONNECT_START_TIMEOUT_S
        while not wait_for_port(self.port, timeout_s=1):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                self.pid_file.unlink(missing_ok=True)
                raise StackError(f"the Spark Connect server did not open port {self.port} "
                                 f"{'(it exited)' if process.poll() is not None else f'within {CONNECT_START_TIMEOUT_S} s'}"
                                 f": see {self.log_file}")


def spark_connect_server(paths: settings.LocalStackPaths | None = None, port: int | None = None) -> SparkConnectServer:
    paths = paths or settings.local_stack_paths()
    return SparkConnectServer(paths.spark_connect_log, paths.spark_connect_pid, port or settings.spark_connect_port(),
                              paths.spark_connect_dir)
