"""What a computation freed goes back to the system, not kept by the C allocator."""

from __future__ import annotations

import os

import numpy as np
import pytest

from flows.compute import _malloc_trim, freed_memory_returned


def _resident() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(_malloc_trim() is None, reason="the C library has no malloc_trim (glibc)")
def test_memory_freed_between_blocks_in_use_goes_back_to_the_system():
    freed, kept = [], []
    for _ in range(400):  # 96 KB blocks from the C heap, each followed by one still in use
        freed.append(np.ones(12_000))
        kept.append(np.ones(12_000))
    del freed  # holes between the kept blocks: the heap cannot shrink from its top
    before = _resident()
    assert freed_memory_returned()
    assert before - _resident() > 20 * 2**20
    assert sum(float(k[0]) for k in kept) == 400.0
