"""experiments/backward_reach.py: its counts worked out by hand on small traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import load_experiment, run_experiment, table_rows

from cowrl.traces.io import Trace

br = load_experiment("backward_reach")


def test_counts_by_hand() -> None:
    # 8 pages, groups of 4 [0..3] and [4..7]; first writes: page 2 at 0, 1 at 1, 0 at 2,
    # 3 at 3, 5 at 4, 4 at 5 (6 faults; pages 6 and 7 never written).
    t = Trace(pages=np.array([2, 1, 0, 3, 5, 4, 2]), n_pages=8)
    r = br.reach(t, [4])
    # after 64: 3 (pages 0-2 earlier), 5 (0-3), 4 (0-3); not 2, nor 1 (0 is later), nor 0
    # below 4: only 3 (5's group-mate 4 is later); above only 4: 1 (2 earlier), 0 (1, 2),
    # 4 (5 earlier); whole: 1 and 0 (group [4..7] has 6 and 7 unwritten)
    assert r == {"faults": 6, "after 64": 3, "below 4": 1, "above only 4": 3,
                 "above only 4, whole": 2}
    # groups of 2, [0,1] [2,3] [4,5]: below, 3 (2 earlier) alone (1's 0 and 5's 4 are later);
    # above only, 0 (1 earlier) and 4 (5 earlier), both in whole groups
    assert br.reach(t, [2]) == {"faults": 6, "after 64": 3, "below 2": 1, "above only 2": 2,
                                "above only 2, whole": 2}


def test_regions_and_addresses_clip() -> None:
    # page 3 (region 0) written before page 4 (region 1): no window crosses a region's end
    one = br.reach(Trace(pages=np.array([3, 4]), n_pages=8), [4])
    two = br.reach(Trace(pages=np.array([3, 4]), n_pages=8, region_sizes=np.array([4, 4])),
                   [4])
    assert one["after 64"] == 1 and one["below 4"] == 0  # 3 and 4 in different groups of 4
    assert two["after 64"] == 0
    # region 1 recorded at virtual page 6 (pages 4.. at vpn 6..): its groups of 4 are
    # vpn [4..7] (pages 4, 5) and [8..11] (pages 6..9): page 5 after page 6 is not in 6's group
    t = Trace(pages=np.array([6, 5, 4]), n_pages=10, region_sizes=np.array([4, 6]),
              region_starts=np.array([0, 6 * 4096], dtype=np.uint64))
    r = br.reach(t, [4])
    # 5: above in its group (vpn 3 is the group's last page) nothing; 4: 5 above it, earlier
    assert r["above only 4"] == 1 and r["below 4"] == 0 and r["above only 4, whole"] == 1


def brute(t: Trace, g: int) -> dict[str, int]:
    """The definitions, page by page in plain Python (an independent implementation)."""
    first: dict[int, int] = {}
    for i, p in enumerate(t.pages.tolist()):
        first.setdefault(p, i)
    ends = t.region_ends.tolist()
    offs = t.region_vpn_offsets.tolist()
    out = {"faults": len(first), "after 64": 0, f"below {g}": 0, f"above only {g}": 0,
           f"above only {g}, whole": 0}
    for p, tp in first.items():
        r = next(i for i, e in enumerate(ends) if p < e)
        b, e = (ends[r - 1] if r else 0), ends[r]
        early = [q for q in range(b, e) if first.get(q, 1 << 62) < tp]
        if any(p - 64 <= q < p for q in early):
            out["after 64"] += 1
        lo = max(b, p - (p + offs[r]) % g)
        hi = min(e, p - (p + offs[r]) % g + g)
        if any(lo <= q < p for q in early):
            out[f"below {g}"] += 1
        elif any(p < q < hi for q in early):
            out[f"above only {g}"] += 1
            if all(q in first for q in range(lo, hi)):
                out[f"above only {g}, whole"] += 1
    return out


def test_matches_brute_force_on_draws_and_corpus_slices() -> None:
    for fam, (t,) in br.draw_groups(["reverse_blocks", "alloc_pool", "dense_chunks"], 1).items():
        small = Trace(pages=t.pages[:1500], n_pages=t.n_pages, region_sizes=t.region_sizes)
        for g in (4, 16):
            assert br.reach(small, [g]) == brute(small, g), (fam, g)


def test_script_table(tmp_path: Path) -> None:
    out = run_experiment("backward_reach", "--draws", "1", "--families", "seq,reverse",
                         "--groups", "4", tmp=tmp_path, timeout=120)
    rows = table_rows(out, 7)
    draws = br.draw_groups(["seq", "reverse"], 1)
    for fam in ("seq", "reverse"):
        want = brute(draws[fam][0], 4)
        n = want["faults"]
        assert rows[fam][1:3] == ["1", str(n)]
        assert rows[fam][3:] == [f"{100 * want[c] / n:.1f}%" for c in (
            "after 64", "below 4", "above only 4", "above only 4, whole")]
    # a descending sweep is never reached from below
    assert rows["reverse"][3] == rows["reverse"][4] == "0.0%" and rows["seq"][5] == "0.0%"


@pytest.mark.parametrize("args, field", [(["--groups", "3"], "--groups"),
                                         (["--groups", "128"], "--groups"),
                                         (["--families", "nope"], "--families"),
                                         (["--first", "5"], "--first"),
                                         (["--draws", "0"], "--draws")])
def test_bad_arguments(args: list[str], field: str, tmp_path: Path) -> None:
    err = run_experiment("backward_reach", *args, tmp=tmp_path, status=2, timeout=60)
    assert err.startswith(f"error: {field}"), err
