#!/usr/bin/env bash
# Fresh machine to results: install, start the embedded stack, migrate, run daily_pipeline for the latest session.
# Offline by default (synthetic source); TRENDFOLIO_SOURCE=yfinance uses live Yahoo data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.local/bin:$PATH"
exec uv run trendfolio run "$@"
