#!/usr/bin/env bash
# One command for a fresh clone: set up (including PostgreSQL 15 for the warehouse tests), then run
# the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-postgres
exec uv run pytest "$@"
