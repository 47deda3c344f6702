#!/usr/bin/env bash
# Installs everything Trendfolio needs on a fresh Debian/Ubuntu machine: Java 17 and the PostgreSQL JDBC driver
# (for Spark), uv, and the project's virtual environment from uv.lock; with --with-browser also Chromium, which the
# dashboard's browser test drives (scripts/test.sh asks for it). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
java -version 2>&1 | grep -qE 'version "(17|21)[."]' || packages+=(openjdk-17-jre-headless)
[ -f /usr/share/java/postgresql.jar ] || [ -n "${TRENDFOLIO_JDBC_JAR:-}" ] || packages+=(libpostgresql-jdbc-java)
# The dashboard's browser test drives Debian's Chromium headless (no browser download).
if [ "${1:-}" = "--with-browser" ]; then command -v chromium >/dev/null || packages+=(chromium); fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]} with apt-get"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "setup: please install ${packages[*]} (needs root)" >&2; exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if ! command -v uv >/dev/null; then
  echo "setup: installing uv with pip"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
command -v uv >/dev/null || { echo "setup: uv is installed but not on PATH" >&2; exit 1; }
uv sync --frozen --quiet
