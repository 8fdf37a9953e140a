"""experiments/novel_patterns.py: every builder makes a valid, seeded trace, and the audit's
main path measures the audited policies on two tiny traces."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_experiment

from cowrl.errors import ConfigError
from cowrl.traces.generators import FAMILIES


@pytest.fixture(scope="module")
def nov():
    return load_experiment("novel_patterns")


def test_builders_make_valid_seeded_traces(nov) -> None:
    assert 10 <= len(nov.BUILDERS) <= 14
    assert not set(nov.BUILDERS) & set(FAMILIES)
    for name in nov.BUILDERS:
        t = nov.build(name, 0, n_pages=64)
        assert t.name == f"{name}_0" and t.writes >= 1, name
        assert 0 <= int(t.pages.min()) and int(t.pages.max()) < t.n_pages, name
        if t.region_sizes is not None:
            assert int(t.region_sizes.sum()) == t.n_pages, name
        else:
            assert t.n_pages == 64, name
        again = nov.build(name, 0, n_pages=64)
        assert np.array_equal(t.pages, again.pages), f"{name}: not deterministic"
        assert not np.array_equal(t.pages, nov.build(name, 1, n_pages=200).pages), name
    with pytest.raises(ConfigError, match="--patterns"):
        nov.build("no_such_pattern", 0)


def test_main_measures_two_tiny_traces(nov, capsys) -> None:
    out = nov.audit(["--patterns", "stride2_records,ring_log", "--draws", "1", "--n-pages",
                    "96", "--costmodels", "seed_table1", "--no-progress",
                    "--variants", '{"proof_ttl": 0}'])
    rows = out["seed_table1"]
    assert {r["trace"] for r in rows} == {"stride2_records_0", "ring_log_0"}
    pols = {r["policy"] for r in rows}
    assert pols == {"baseline", "guarded", "shield64", "readahead", "guarded[proof_ttl=0]",
                    "precopy_best",
                    "oracle"}
    for r in rows:
        if r["policy"] == "baseline":
            assert r["ratio"] == pytest.approx(1.0)
        assert r["oracle_ratio"] <= r["best_ratio"] + 1e-9 <= 1.0 + 1e-9
        if r["policy"] == "guarded":  # its loss bound: within the 1% allowance
            assert r["ratio"] <= nov.SAFETY, r
    text = capsys.readouterr().out
    assert "| guarded |" in text and "stride2_records_0" in text


def test_variant_names_an_unknown_key(nov) -> None:
    with pytest.raises(ConfigError, match="no_such_key"):
        nov.variant({"no_such_key": 1})


# --- Round 2 (session 39): the ten patterns' declared shapes ---------------------------------


def test_round2_builders_make_valid_seeded_traces(nov) -> None:
    assert len(nov.BUILDERS_2) == 10 and nov.ROUNDS == {1: nov.BUILDERS, 2: nov.BUILDERS_2}
    assert not set(nov.BUILDERS_2) & (set(FAMILIES) | set(nov.BUILDERS))
    for name in nov.BUILDERS_2:
        t = nov.build(name, 0, n_pages=1024)
        assert t.name == f"{name}_0" and t.writes >= 8, name
        assert 0 <= int(t.pages.min()) and int(t.pages.max()) < t.n_pages, name
        if t.region_sizes is not None:
            assert int(t.region_sizes.sum()) == t.n_pages and t.region_sizes.min() >= 1, name
        else:
            assert t.n_pages <= 1024, name
        assert np.unique(t.pages).size == t.writes, f"{name}: a page written twice"
        assert np.array_equal(t.pages, nov.build(name, 0, n_pages=1024).pages), name
        assert not np.array_equal(t.pages, nov.build(name, 1, n_pages=1024).pages), name
    # round 1's draws do not move: its seeds are its own
    assert nov.build("sawtooth", 0, n_pages=64).pages[:4].tolist() == [0, 1, 2, 3]


def test_zorder_rows_bands_in_raster_order(nov) -> None:
    for d in range(4):
        t = nov.build("zorder_rows", d, n_pages=2048)
        b = 10 if t.meta["esize"] == 4 else 9
        p = t.pages
        ybits = [j for j in range(16) if (j + b) % 2 == 1]  # page bits that are y bits
        band = sum(((p >> j) & 1) << i for i, j in enumerate(ybits))
        assert np.all(np.diff(band) >= 0), d  # tile bands top to bottom
        same = np.diff(band) == 0
        assert np.all(np.diff(p)[same] > 0), d  # inside a band left to right
        if b == 9:  # 8-byte: page + 1 is in the next band
            assert not np.any(np.diff(p)[same] == 1), d


def _regions(t):
    ends = np.cumsum(t.region_sizes)
    return ends - t.region_sizes, ends


def test_mmap_buffers_prefix_fills(nov) -> None:
    for d in range(3):
        t = nov.build("mmap_buffers", d, n_pages=3000)
        assert int(t.region_sizes.sum()) == t.n_pages and t.n_pages >= 3000
        for lo, hi in zip(*_regions(t), strict=True):
            mine = t.pages[(t.pages >= lo) & (t.pages < hi)]
            assert mine.size >= 1 and mine.tolist() == list(range(lo, lo + mine.size)), d


def test_row_swaps_whole_rows(nov) -> None:
    for d in range(3):
        t = nov.build("row_swaps", d, n_pages=1500)
        rb = t.meta["row_bytes"]
        s = set(t.pages.tolist())
        for p in s:  # some row holding p is written whole
            rows = range(max(0, p * 4096 // rb - 1), (p * 4096 + 4095) // rb + 1)
            assert any(all(q in s for q in range(r * rb // 4096, ((r + 1) * rb - 1) // 4096 + 1))
                       for r in rows if r * rb // 4096 <= p <= ((r + 1) * rb - 1) // 4096), p


def test_heap_sift_chains_from_the_root(nov) -> None:
    for d in range(3):
        t = nov.build("heap_sift", d, n_pages=600)
        e = 4096 // t.meta["entry_bytes"]
        s = set(t.pages.tolist())
        assert int(t.pages[0]) == 0
        tail = (t.meta["entries"] - 1) // e
        for p in s - {0, tail}:  # a page holding a parent of p's entries is written
            assert {((p * e - 1) // 2) // e, (((p + 1) * e - 2) // 2) // e} & s, p


def test_lockstep_regions_streams(nov) -> None:
    t = nov.build("lockstep_regions", 0, n_pages=1000)
    starts, ends = _regions(t)
    assert t.pages[:starts.size].tolist() == starts.tolist()  # iteration 0: every array
    for lo, hi in zip(starts, ends, strict=True):
        mine = t.pages[(t.pages >= lo) & (t.pages < hi)]
        assert mine.tolist() == list(range(lo, lo + mine.size))


def test_wal_checkpoint_lap_and_sweeps(nov) -> None:
    for d in range(3):
        t = nov.build("wal_checkpoint", d, n_pages=1200)
        w = int(t.region_sizes[0])
        wal, db = t.pages[t.pages < w], t.pages[t.pages >= w]
        assert wal.tolist() == list(range(wal.size))  # one sequential lap
        assert int(np.sum(np.diff(db) < 0)) <= t.meta["laps"] - 1  # ascending sweeps


def test_fiber_stacks_descend_from_the_top(nov) -> None:
    t = nov.build("fiber_stacks", 0)
    for lo, hi in zip(*_regions(t), strict=True):
        mine = t.pages[(t.pages >= lo) & (t.pages < hi)]
        assert mine.tolist() == list(range(hi - 1, hi - 1 - mine.size, -1))


def test_block_allocator_next_fit(nov) -> None:
    t = nov.build("block_allocator", 0, n_pages=2000)
    desc = int(t.region_sizes[0])
    data = t.pages[t.pages >= desc]
    assert np.all(np.diff(data) > 0) and data.size >= 1


def test_box_update_3d_inside_the_box(nov) -> None:
    for d in range(3):
        t = nov.build("box_update_3d", d, n_pages=1500)
        rb, ny = t.meta["row_bytes"], t.meta["plane_rows"]
        (z0, z1), (y0, y1), (x0, x1) = t.meta["box"]
        want = sorted({q for z in range(z0, z1) for y in range(y0, y1)
                       for q in range(((z * ny + y) * rb + 8 * x0) // 4096,
                                      ((z * ny + y) * rb + 8 * x1 - 1) // 4096 + 1)})
        assert t.pages.tolist() == want, d  # ascending, every page of the box


def test_segment_tree_chains(nov) -> None:
    for d in range(3):
        t = nov.build("segment_tree", d, n_pages=1024)
        s = set(t.pages.tolist())
        assert all(p // 2 in s for p in s), d  # every ancestor page written
        assert int(t.pages[0]) >= t.n_pages // 2 and int(t.pages[1]) == int(t.pages[0]) // 2
