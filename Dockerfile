# The Trendfolio project image: the Dagster code location, dagster-webserver, dagster-daemon, the API and the
# dashboard, and the Spark master and workers (the Spark of the locked pyspark wheel, so driver and executors run the
# same Spark and Python versions). Dependencies come from uv.lock, exactly as locked, without the dependency groups
# (the laptop stack's embedded PostgreSQL and broker, Airflow, the test tools): the image runs none of them.
FROM python:3.11.14-slim-bookworm

# Java 17 for Spark and the PostgreSQL JDBC driver at /usr/share/java/postgresql.jar (bookworm still ships Java 17;
# trixie, the default of python:3.11-slim, does not). procps: Spark's launch scripts call `ps`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless libpostgresql-jdbc-java procps \
    && rm -rf /var/lib/apt/lists/*

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /usr/local/bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --no-install-project

COPY . .
RUN uv sync --frozen --no-default-groups \
    && useradd --system --uid 1000 --home-dir /app trendfolio \
    && mkdir -p /app/dagster_home/storage /tmp/spark-worker \
    && chown -R trendfolio /app/dagster_home /tmp/spark-worker

ENV PATH=/app/.venv/bin:$PATH \
    DAGSTER_HOME=/app/dagster_home \
    TRENDFOLIO_JDBC_JAR=/usr/share/java/postgresql.jar \
    SPARK_WORKER_DIR=/tmp/spark-worker \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1

USER trendfolio
CMD ["trendfolio", "--help"]
