#!/usr/bin/env bash
# The whole test suite against real services: embedded PostgreSQL, the Tansu Kafka broker and Spark in local mode
# start inside the test session on free ports (or DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS name external ones).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
export PATH="$HOME/.local/bin:$PATH"
exec uv run pytest "$@"
