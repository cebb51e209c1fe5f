#!/usr/bin/env bash
# One-command install of the regeneration stack: Py-Feat 0.6.2 + felt-hf in one venv (docs/REGENERATION.md).
#   scripts/install_regen.sh [VENV_DIR]        (default: .venv-regen; PYTHON picks the interpreter, default python3.11)
# Extra pip arguments for the felt-hf install (e.g. extras for the tests) go in FELT_REGEN_EXTRAS, e.g. "[dev]".
# Why two pip calls: py-feat 0.6.2 and nltools 0.5.1 must go in with --no-deps (nltools declares numpy<1.24,
# which felt-hf cannot use); everything they import is pinned in requirements-regen.txt and resolved in the
# first call together with felt-hf itself, so felt-hf's own requirements cannot pull pyarrow 26 / numpy 2.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$repo/.venv-regen}"
python="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade "pip>=24"
"$venv/bin/python" -m pip install -q -r "$repo/requirements-regen.txt" -e "$repo${FELT_REGEN_EXTRAS:-}"
"$venv/bin/python" -m pip install -q --no-deps py-feat==0.6.2 nltools==0.5.1
# The check a user would do first: both import, in one process, on this stack.
"$venv/bin/python" -c "import felt_hf.regen.compat as c; c.install_shims(); import feat, felt_hf.csv_writer, felt_hf.convert, datasets, pyarrow, numpy; print('regen env ok:', '$venv', 'py-feat', feat.__version__, 'numpy', numpy.__version__, 'pyarrow', pyarrow.__version__)"
