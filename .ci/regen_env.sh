#!/usr/bin/env bash
# The Py-Feat 0.6.2 regeneration environment for CI (docs/REGENERATION.md): builds it with
# scripts/install_regen.sh once per set of requirements, reuses it afterwards, prints its path (only
# that, on stdout). Cached under ${FELT_CI_ENVS:-$HOME/.cache/felt-hf-ci}/regen-<hash>, where the hash
# covers everything that decides its contents; a build that did not finish is redone, never reused.
# With --test it then runs the Py-Feat tests in it (what .ci/run does): python -m pytest -q -m pyfeat,
# with this checkout first on PYTHONPATH (the cached env's editable felt-hf may point at an older clone).
set -euo pipefail
cd "$(dirname "$0")/.."
root="${FELT_CI_ENVS:-$HOME/.cache/felt-hf-ci}"
key="$(cat requirements-regen.txt scripts/install_regen.sh setup.cfg | sha256sum | cut -c1-16)"
venv="$root/regen-$key"
if [ ! -f "$venv/.felt-complete" ]; then
    rm -rf "$venv"
    mkdir -p "$root"
    start=$(date +%s)
    FELT_REGEN_EXTRAS="[dev]" scripts/install_regen.sh "$venv" 1>&2
    touch "$venv/.felt-complete"
    echo "regen env built in $(($(date +%s) - start)) s: $venv" 1>&2
else
    echo "regen env reused: $venv" 1>&2
fi
bash .ci/prune_envs.sh "$venv"
if [ "${1:-}" = "--test" ]; then
    PYTHONPATH="$PWD" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider -m pyfeat
fi
echo "$venv"
