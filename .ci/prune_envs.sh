#!/usr/bin/env bash
# Usage: prune_envs.sh <env folder in use>
# Marks that env as used now and removes its stale siblings of the same kind (the same name up to the
# last '-', e.g. regen-<old hash> beside regen-<new hash>): each regen env is 8.4 GB and each
# requirements change made a new one, so old ones filled a long-lived CI machine's disk. A sibling
# is stale when no run has used it for 2 hours, so a CI run of another checkout in progress keeps its own.
set -euo pipefail
venv="$1"
touch "$venv/.felt-used"
kind="$(basename "$venv")"
kind="${kind%-*}"
for other in "$(dirname "$venv")/$kind"-*; do
  [ -d "$other" ] && [ "$other" != "$venv" ] || continue
  if [ -z "$(find "$other" -maxdepth 1 -name .felt-used -mmin -120 2>/dev/null)" ]; then
    echo "removing stale CI env $other ($(du -sh "$other" 2>/dev/null | cut -f1))" 1>&2
    rm -rf "$other"
  fi
done
