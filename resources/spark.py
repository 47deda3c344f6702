"""Spark through dagster-pyspark, or a Spark Connect server. One SparkSession per process: `getOrCreate` hands every
asset of a run the session the first one started (the job runs in process for that reason), since a start costs
15-20 s on two cores. With `remote` (TRENDFOLIO_SPARK_CONNECT) the session is a Spark Connect client of a server that
outlives the run: the night pays neither the JVM's start nor its cold JIT."""

from __future__ import annotations

import atexit
import os
import threading
import uuid

from dagster import ConfigurableResource
from dagster_pyspark import LazyPySparkResource
from pyspark.sql import SparkSession

from trendfolio.stack import spark as spark_settings


# Ranges up to this many sessions run with SMALL_RANGE_SETTINGS (`SparkResource.session`).
SMALL_RANGE_SESSIONS = 60
# A nightly run's plans have ~50 shuffle stages of a few hundred rows each: a second task per stage costs more than it
# parallelizes, and compiling generated Java code (Janino) for every stage and expression costs more than evaluating
# the expressions interpreted. Without code generation the four analytics steps of a warm night took 19-21 s against
# 37-42 s with it (load ≈ 20, alternating in one process; bench/README.md, benchmark 2). `factoryMode` is an internal
# Spark setting (its documented purpose is tests); `codegen.wholeStage` alone gave 30 s. A 60-session backfill too ran
# faster without it (61.7 s against 70.1 s, benchmark 4); where generated code starts to pay between 60 sessions and
# 13 M rows (benchmark 5, where it does) is not measured, so longer ranges keep Spark's defaults.
SMALL_RANGE_SETTINGS = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}
# What a longer range sets back (the process's one session may serve a backfill after a night): Spark's defaults for
# code generation; its shuffle partitions are the resource's.
LARGE_RANGE_CODEGEN = {
    "spark.sql.codegen.wholeStage": "true",
    "spark.sql.codegen.factoryMode": "FALLBACK",
}
# The SparkSession started in the background when a run that needs Spark begins (`SparkResource.setup_for_execution`).
_WARMING: list[threading.Thread] = []
# The process's Spark Connect session per server URL (`SparkResource._connect`).
_CONNECTED: dict[tuple[str, str], SparkSession] = {}
_CONNECTING = threading.Lock()


def _disconnect() -> None:
    """Close the process's Connect sessions before the interpreter exits (kept on the server): a gRPC channel left to
    the garbage collector at exit can wait forever."""
    while _CONNECTED:
        _CONNECTED.popitem()[1].stop()


class SparkResource(ConfigurableResource):
    """`master_url` is `local[N]` for local mode or `spark://host:7077` for a cluster; `remote`, when set, is a Spark
    Connect server `sc://host:port` that runs the analytics instead (then `master_url` and `driver_memory` are the
    server's business)."""

    master_url: str = spark_settings.LOCAL_MASTER
    driver_memory: str = spark_settings.DRIVER_MEMORY
    shuffle_partitions: int = spark_settings.SHUFFLE_PARTITIONS
    remote: str = ""

    def setup_for_execution(self, context) -> None:
        """Start the SparkSession in a background thread as the run begins, so that the JVM starts while the
        collection steps wait on the source, the broker and PostgreSQL; the first `session()` call joins it. A start
        that fails here fails again, reported, in `session()`."""
        if not _WARMING:
            warming = threading.Thread(target=self._start_quietly, name="spark-warm-up", daemon=True)
            _WARMING.append(warming)
            warming.start()

    def _start_quietly(self) -> None:
        try:
            self._start()
        except Exception:  # noqa: BLE001 — session() starts it again and reports the error where it is needed
            pass

    def _start(self, small: bool = True) -> SparkSession:
        if self.remote:
            return self._connect(small)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        return LazyPySparkResource(spark_config=self.spark_config()).spark_session

    def _connect(self, small: bool) -> SparkSession:
        """The process's Spark Connect session with the server `remote`, made by the Connect builder itself (pyspark's
        own builder refuses one next to a classic session in the same process, as in the test suite). It switches the
        process to Connect mode: from then on `pyspark.sql.functions` and `Window` build Connect expressions (pyspark
        decides by this variable), so a process runs its analytics either in local mode or through Connect.

        Every process that runs a night joins the same server-side session (a fixed id per server and settings
        profile, never released), so that the server's Python workers, which belong to a session, stay warm from one
        night to the next: a new session's first `applyInPandas` starts them (≈ 2.7 s at load 5). Nights and longer
        ranges have a session each since they set different settings. A session the server has closed (expired on
        an external server) makes way for a fresh one."""
        from pyspark.errors import PySparkException
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        profile = "small" if small else "large"
        with _CONNECTING:
            session = _CONNECTED.get((self.remote, profile))
            if session is not None and not session.is_stopped:
                return session
            session_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.remote}#trendfolio-{profile}")
            for url in (f"{self.remote.rstrip('/')}/;session_id={session_id}", self.remote):
                session = ConnectSession.builder.remote(url).create()
                session.release_session_on_close = url == self.remote
                try:
                    session.conf.set("spark.sql.session.timeZone", "UTC")  # the first call: is the session usable?
                    break
                except PySparkException as error:
                    session.stop()
                    if "SESSION_CLOSED" not in str(error):
                        raise
            for key, value in spark_settings.sql_settings(self.shuffle_partitions).items():
                session.conf.set(key, value)
            if not _CONNECTED:
                atexit.register(_disconnect)
            _CONNECTED[(self.remote, profile)] = session
            return session

    def spark_config(self) -> dict:
        return spark_settings.spark_config(self.master_url, self.driver_memory, self.shuffle_partitions)

    def session(self, sessions: int | None = None) -> SparkSession:
        """`sessions`: how many trading sessions the caller computes. A short range (a nightly run) runs with
        SMALL_RANGE_SETTINGS, a longer one (or None) with the resource's shuffle partitions and code generation."""
        while _WARMING:
            _WARMING.pop().join()
        small = sessions is not None and sessions <= SMALL_RANGE_SESSIONS
        spark = self._start(small)
        if not self.remote:  # a Connect server logs to its own file (TRENDFOLIO_HOME/spark-connect.log)
            spark.sparkContext.setLogLevel("ERROR")
        settings = SMALL_RANGE_SETTINGS if small else {
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions), **LARGE_RANGE_CODEGEN}
        for key, value in settings.items():
            spark.conf.set(key, value)
        return spark
