"""Spark through dagster-pyspark. One SparkSession per process: `getOrCreate` hands every asset of a run the session
the first one started (the job runs in process for that reason), since a start costs 15-20 s on two cores."""

from __future__ import annotations

import os
import threading

from dagster import ConfigurableResource
from dagster_pyspark import LazyPySparkResource
from pyspark.sql import SparkSession

from trendfolio import stack


# Ranges up to this many sessions run with SMALL_RANGE_SETTINGS (`SparkResource.session`).
SMALL_RANGE_SESSIONS = 20
# A nightly run's plans have ~50 shuffle stages of a few hundred rows each: a second task per stage costs more than it
# parallelizes, and compiling generated Java code (Janino) for every stage and expression costs more than evaluating
# the expressions interpreted. Without code generation the four analytics steps of a warm night took 19-21 s against
# 37-42 s with it (load ≈ 20, alternating in one process; bench/README.md, benchmark 2). `factoryMode` is an internal
# Spark setting (its documented purpose is tests); `codegen.wholeStage` alone gave 30 s. Long ranges keep Spark's
# defaults: at 13 M rows (benchmark 5) generated code pays.
SMALL_RANGE_SETTINGS = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}
# The SparkSession started in the background when a run that needs Spark begins (`SparkResource.setup_for_execution`).
_WARMING: list[threading.Thread] = []


class SparkResource(ConfigurableResource):
    """`master_url` is `local[N]` for local mode or `spark://host:7077` for a cluster."""

    master_url: str = "local[2]"
    driver_memory: str = "2g"
    shuffle_partitions: int = 2

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

    def _start(self) -> SparkSession:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        return LazyPySparkResource(spark_config=self.spark_config()).spark_session

    def spark_config(self) -> dict:
        jar = stack.check_spark_prerequisites()["jdbc_jar"] if self.master_url.startswith("local") else stack.jdbc_jar()
        config = {
            "spark.master": self.master_url,
            "spark.app.name": "trendfolio",
            "spark.driver.memory": self.driver_memory,
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            # A night is a few thousand rows: adaptive execution re-plans every stage as a job of its own, which made
            # one nightly run 39 small Spark jobs instead of 6 (bench/README.md, benchmark 2).
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.showConsoleProgress": "false",
            "spark.log.structuredLogging.enabled": "false",
            "spark.driver.bindAddress": "127.0.0.1" if self.master_url.startswith("local") else "0.0.0.0",
        }
        if jar and jar.endswith(".jar"):
            config["spark.jars"] = jar
        else:
            config["spark.jars.packages"] = stack.JDBC_MAVEN_PACKAGE
        return config

    def session(self, sessions: int | None = None) -> SparkSession:
        """`sessions`: how many trading sessions the caller computes. A short range (a nightly run) runs with
        SMALL_RANGE_SETTINGS, a longer one (or None) with the resource's shuffle partitions and code generation."""
        while _WARMING:
            _WARMING.pop().join()
        spark = self._start()
        spark.sparkContext.setLogLevel("ERROR")
        small = sessions is not None and sessions <= SMALL_RANGE_SESSIONS
        settings = SMALL_RANGE_SETTINGS if small else {
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            "spark.sql.codegen.wholeStage": "true",
            "spark.sql.codegen.factoryMode": "FALLBACK",
        }
        for key, value in settings.items():  # the process's one session may serve a backfill after a night
            spark.conf.set(key, value)
        return spark
