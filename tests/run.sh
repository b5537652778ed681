#!/usr/bin/env bash
# The whole test suite, from a fresh machine: a virtualenv with the project and its test extras,
# Debian's Chromium (browser tests), redis-server (shared-cache tests) and Node.js with npm (installed
# when missing), axe-core for the browser tests' accessibility checks (npm, pinned in
# tests/e2e/package.json), ruff, the page's JavaScript unit tests (node --test tests/js), then pytest.
# Extra arguments go to pytest, e.g.  bash tests/run.sh tests/engine -x
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# pip resolves and rebuilds the editable install every time (half a minute): only when pyproject.toml changed
# since the last install into this .venv. --no-compile: byte-compiling every installed module (all of torch) took
# longer than the rest of the install; Python compiles the modules the tests import as it first imports them.
# It runs beside the Debian installs below (one downloads, the other unpacks): its output goes to a log that is
# shown only when it fails.
stamp=.venv/.installed-pyproject
pip_pid=
if ! cmp -s pyproject.toml "$stamp"; then
  pip_log=$(mktemp)
  .venv/bin/python -m pip install -q --no-compile --disable-pip-version-check -e '.[test]' >"$pip_log" 2>&1 &
  pip_pid=$!
fi
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
missing=()
# Without Debian's recommends (printer setup, notification daemon, power daemon, git, node-tap: half the download),
# but with the two a headless Chromium uses: its fonts (text metrics in layout tests) and Mesa's drivers.
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation libgl1-mesa-dri)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing Debian's ${missing[*]} for the tests"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ -n "$pip_pid" ]; then
  wait "$pip_pid" || { cat "$pip_log"; echo "tests/run.sh: pip install failed"; exit 1; }
  cp pyproject.toml "$stamp"
fi
# Bytecode caches on, whatever the environment says (PYTHONDONTWRITEBYTECODE): pip installed without compiling, and
# without them every process the suite starts (each worker, server, upload parser, kernel, script) compiles torch and
# the rest again, seconds of CPU each. One process imports the lot first, beside npm, ruff and the JavaScript tests,
# so that the workers, which start at once, find them written (torch._dynamo and the sympy it pulls in: torch.optim
# imports them when the first optimizer is made, a training's first step).
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -c "import torch, torch._dynamo, engine, server.app, playwright.sync_api, schemathesis, hypothesis, nbclient, nbconvert" \
  >/dev/null 2>&1 &
warm_pid=$!
# axe-core into tests/e2e/node_modules, exactly the version package-lock.json pins.
[ -f tests/e2e/node_modules/axe-core/axe.min.js ] || npm ci --prefix tests/e2e --no-audit --no-fund --silent
.venv/bin/ruff check .
# The page's JavaScript unit tests (state, links, trace store).
node --test tests/js/
wait "$warm_pid" || true  # a module missing here is the tests' to report
# One worker per core, at most 4 (each runs its own server and Chromium); `-n 0` among the arguments runs
# everything in this process. Each worker starts on its share of the tests in order and an idle one takes half of
# another's queue (worksteal), so no worker is left alone with a long tail. Not loadscope/loadgroup: those run one
# of several tests sharing a node id (schemathesis' cases in tests/server/test_openapi.py) and drop the rest.
exec .venv/bin/python -m pytest -n auto --maxprocesses 4 --dist worksteal "$@"
