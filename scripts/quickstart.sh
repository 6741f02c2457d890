#!/usr/bin/env bash
# One command for a fresh clone: set up, then run the whole pipeline on the bundled sample with the
# embedded SQLite warehouse. Reports land in ./reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
exec uv run healthplan run "$@"
