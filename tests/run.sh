#!/usr/bin/env bash
# The whole test suite, from a fresh machine: a virtualenv with the project and its test extras,
# Debian's Chromium for the browser tests (installed when missing), ruff, the page's JavaScript unit tests
# (node --test tests/js; Debian's nodejs is installed when node is missing), then pytest.
# Extra arguments go to pytest, e.g.  bash tests/run.sh tests/engine -x
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ ! -x /usr/bin/chromium ]; then
  echo "tests/run.sh: installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
fi
.venv/bin/ruff check .
if ! command -v node >/dev/null; then
  echo "tests/run.sh: installing Debian's nodejs for the JavaScript unit tests"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q nodejs
fi
node --test tests/js/
exec .venv/bin/python -m pytest "$@"
