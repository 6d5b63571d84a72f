#!/usr/bin/env bash
# The interpreters (3.10 or newer) on this machine: on PATH and under pyenv.
#   scripts/pythons.sh               every one, oldest first, one per minor version
#   scripts/pythons.sh oldest newest the oldest and the newest only
set -euo pipefail
declare -A by_minor=()
candidates=()
for name in python3 python3.10 python3.11 python3.12 python3.13 python3.14; do
    path=$(command -v "$name" 2>/dev/null) && candidates+=("$path")
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for dir in "$root"/versions/3.*; do
    [[ -x "$dir/bin/python" ]] && candidates+=("$dir/bin/python")
done
for python in "${candidates[@]}"; do
    minor=$("$python" -c "import sys; print(sys.version_info[1] if sys.version_info >= (3, 10) else '')" 2>/dev/null) || continue
    [[ -n "$minor" && -z "${by_minor[$minor]:-}" ]] && by_minor[$minor]=$python
done
mapfile -t minors < <(printf '%s\n' "${!by_minor[@]}" | sort -n)
[[ ${#minors[@]} -eq 0 ]] && exit 0
if [[ "${1:-}" == "oldest" ]]; then
    echo "${by_minor[${minors[0]}]}"
    if [[ ${#minors[@]} -gt 1 ]]; then echo "${by_minor[${minors[-1]}]}"; fi
else
    for minor in "${minors[@]}"; do echo "${by_minor[$minor]}"; done
fi
