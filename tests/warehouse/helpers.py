"""Small builders shared by the warehouse tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def obs_frame(n_areas: int = 3, years=(2020, 2021), elements=("pop", "beds"), base: float = 1.0):
    """A tidy observation frame: every area × year × element, values derived from the position."""
    rows = []
    for a in range(n_areas):
        for y in years:
            for k, e in enumerate(elements):
                rows.append(
                    {
                        "area_code": f"1101{a:02d}",
                        "year": y,
                        "element": e,
                        "stratum": "",
                        "value": base + a * 100 + (y - 2000) + k / 10,
                        "source_rows": f"{len(rows) + 2}",
                    }
                )
    return pd.DataFrame(rows)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load(engine, frame, loaded_at, name="f.csv", checksum=None):
    """Register a file and load it in one transaction, as the ingest flow does."""
    from warehouse.observations import finish_source_file, load_observations, register_source_file

    with engine.begin() as conn:
        file_id, already = register_source_file(
            conn,
            checksum=checksum or sha(name + loaded_at.isoformat()),
            name=name,
            source="test",
            layout="v1",
            encoding="utf-8",
            rows_read=len(frame),
        )
        if already:
            return file_id, None
        stats = load_observations(conn, file_id, frame, loaded_at)
        finish_source_file(conn, file_id, stats.rows, 0, "loaded")
    return file_id, stats


def big_frame(n: int, base: float = 1.0) -> pd.DataFrame:
    """n observations over synthetic areas × years × elements (vectorized: fast for 1M rows)."""
    import numpy as np

    i = np.arange(n)
    return pd.DataFrame(
        {
            "area_code": pd.Series(i // 200, dtype="int64").map("{:06d}".format).astype("str"),
            "year": 2001 + (i // 20) % 10,
            "element": pd.Series(i % 20).map("e{:02d}".format).astype("str"),
            "stratum": "",
            "value": base + i * 0.5,
            "source_rows": (i + 2).astype(str),
        }
    )
