"""Child process for test_kill: loads a big frame and announces the statement it is in.

usage: python kill_child.py URL N_ROWS MARKER   (MARKER: 'stage' or 'merge')
Prints MARKER when the load reaches that step, then COMMITTED after the commit.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import sqlalchemy as sa

from tests.warehouse.helpers import big_frame, sha
from warehouse.engine import get_engine
from warehouse.observations import load_observations, register_source_file


def main() -> None:
    url, n, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    engine = get_engine(url)
    triggers = {
        "stage": "CREATE TEMPORARY TABLE IF NOT EXISTS _obs_stage",
        "merge": "INSERT INTO observation",
    }

    @sa.event.listens_for(engine, "before_cursor_execute")
    def announce(conn, cursor, statement, parameters, context, executemany):
        if statement.strip().startswith(triggers[marker]):
            print(marker, flush=True)

    frame = big_frame(n, base=5.0)
    with engine.begin() as conn:
        file_id, _ = register_source_file(
            conn,
            checksum=sha("big"),
            name="big.csv",
            source="s",
            layout="v1",
            encoding="utf-8",
            rows_read=n,
        )
        load_observations(conn, file_id, frame, datetime.now(UTC))
    print("COMMITTED", flush=True)


if __name__ == "__main__":
    main()
