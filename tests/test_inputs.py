"""Hand-made inputs that used to get past the loading boundary: trace fields whose arithmetic
wraps. Each must stop with one TraceError line naming the field and file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cowrl.errors import TraceError
from cowrl.traces.io import load_trace


def test_region_sizes_whose_sum_wraps_are_refused(tmp_path: Path) -> None:
    """Four sizes of ~2^62 sum to 10 in int64: the file was accepted and replayed with
    unsorted region ends (fault_around copied across them)."""
    f = tmp_path / "wrap.npz"
    np.savez(f, pages=np.arange(10), n_pages=np.int64(10),
             region_sizes=np.array([2**62, 2**62, 2**62, 2**62 + 10], dtype=np.int64))
    with pytest.raises(TraceError, match=r"wrap\.npz: region_sizes must be positive and sum"):
        load_trace(f)
