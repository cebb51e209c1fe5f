#!/usr/bin/env bash
# Runs the loading, streaming and docs tests on the other `datasets` majors (issue 10):
#   datasets 3.x: the loading script felt.py (trust_remote_code=True) -> tests/test_felt_script.py
#   datasets 4.x: the whole suite (loading, streaming, prepare_stream, executable docs, ...)
# Each major gets its own venv under ${FELT_CI_ENVS:-$HOME/.cache/felt-hf-ci}, named by a hash of
# its requirements, so a second run reuses it. felt_hf is not installed there: it is imported from
# this checkout (PYTHONPATH), so the code under test is exactly the clone's.
# Usage: .ci/datasets_envs.sh [3|4]...   (default: 3 4). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
ENVS="${FELT_CI_ENVS:-$HOME/.cache/felt-hf-ci}"
PY="${PYTHON:-python}"  # the main environment's interpreter (datasets 5.x): the venvs' Python and the reference
export FELT_REFERENCE_PYTHON="${FELT_REFERENCE_PYTHON:-$(command -v "$PY")}"
mkdir -p "$ENVS"

# Requirements come from setup.cfg (install_requires, plus the torch and dev extras for 4.x), with
# the datasets line replaced by the major under test: a dependency added there reaches these venvs
# (and, through the hash, makes a fresh one).
reqs_from_setup() {  # $1: the datasets requirement; $2...: extras
  "$PY" - "$@" <<'PYEOF'
import configparser
import re
import sys

cfg = configparser.ConfigParser()
cfg.read("setup.cfg")
lines = cfg["options"]["install_requires"].splitlines()
for extra in sys.argv[2:]:
    lines += cfg["options.extras_require"][extra].splitlines()
out = [sys.argv[1]]
for line in (raw.strip() for raw in lines):
    name = re.match(r"[A-Za-z0-9_.-]*", line).group(0).lower()
    if name and name not in ("datasets", "torch"):  # torch: pinned and installed first (below)
        out.append(line)
print("\n".join(dict.fromkeys(out)))
PYEOF
}

reqs_for() {
  case "$1" in
    3) reqs_from_setup "datasets>=3.6,<4"; echo "pytest>=7" ;;
    # torch first and pinned: `torch==2.13.0` takes the local CPU wheel (see README)
    4) echo "torch==2.13.0"; reqs_from_setup "datasets>=4.0,<5" torch dev ;;
    *) echo "unknown datasets major: $1" >&2; exit 2 ;;
  esac
}

tests_for() {
  case "$1" in
    3) echo "tests/test_felt_script.py" ;;  # the package itself declares datasets>=4
    4) echo "tests" ;;  # everything: loading, streaming, prepare_stream, executable docs, baseline, hub
  esac
}

env_for() {  # prints the venv path, building it on first use
  local major="$1" reqs hash venv
  reqs="$(reqs_for "$major")"
  hash="$(printf '%s\n%s\n' "$("$PY" -c 'import sys; print(sys.version.split()[0])')" "$reqs" | sha256sum | cut -c1-12)"
  venv="$ENVS/datasets$major-$hash"
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    "$PY" -m venv "$venv"
    printf '%s\n' "$reqs" > "$venv/requirements.txt"
    if [ "$major" = 4 ]; then "$venv/bin/python" -m pip install -q torch==2.13.0; fi
    "$venv/bin/python" -m pip install -q -r "$venv/requirements.txt"
    touch "$venv/.complete"
  fi
  bash "$REPO/.ci/prune_envs.sh" "$venv"
  echo "$venv"
}

majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(3 4)
for major in "${majors[@]}"; do
  venv="$(env_for "$major")"
  echo "== datasets $("$venv/bin/python" -c 'import datasets; print(datasets.__version__)') ($venv)"
  # shellcheck disable=SC2046
  PYTHONPATH="$REPO" "$venv/bin/python" -m pytest -q -p no:cacheprovider $(tests_for "$major")
done
