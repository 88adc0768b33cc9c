#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: unit, kernel (real probes, needs root) and UI.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
exec "$here/.venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
