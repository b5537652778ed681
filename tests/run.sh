#!/usr/bin/env bash
# The whole test suite, from a fresh machine: a virtualenv with the project and its test extras,
# Debian's Chromium (browser tests) and redis-server (shared-cache tests) installed when missing,
# ruff, then pytest.
# Extra arguments go to pytest, e.g.  bash tests/run.sh tests/engine -x
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing Debian's ${missing[*]} for the tests"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
