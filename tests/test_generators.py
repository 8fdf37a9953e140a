"""The randomized training distribution: families, their parameters and the sampler."""

from __future__ import annotations

import numpy as np
import pytest

from cowrl.errors import ConfigError
from cowrl.registry import available, make_workload
from cowrl.traces import generators as g


@pytest.mark.parametrize("family", list(g.FAMILIES))
def test_every_family_draws_valid_seeded_traces(family: str) -> None:
    for seed in range(6):
        t = g.family_trace(family, seed=seed)
        assert t.writes > 0 and 0 <= t.pages.min() and t.pages.max() < t.n_pages
        assert t.meta["family"] == family
        again = g.family_trace(family, seed=seed)
        assert np.array_equal(t.pages, again.pages) and t.n_pages == again.n_pages


def test_structure_of_the_new_families() -> None:
    b = g.block_stride(n_pages=24, block=3, gap=3)
    assert b.pages.tolist() == [0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20]
    col = g.long_stride(n_pages=12, stride=4, columns=4)
    assert col.pages.tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    tile = g.tiled2d(n_pages=16, row_pages=4, tile_rows=2, tile_cols=2)
    assert tile.pages.tolist()[:8] == [0, 1, 4, 5, 2, 3, 6, 7]
    rb = g.reverse_blocks(n_pages=8, block=4)
    assert rb.pages.tolist() == [4, 5, 6, 7, 0, 1, 2, 3]
    dc = g.dense_chunks(n_pages=256, chunk=64, seed=1)
    assert sorted(dc.pages.tolist()) == list(range(256))  # dense in the end, random order
    assert np.count_nonzero(np.diff(dc.pages) == 1) < 32
    runs = g.short_runs(n_pages=4096, writes=2000, run_min=2, run_max=4, seed=3)
    assert runs.writes == 2000


def test_sampler_is_fresh_per_seed_and_covers_the_families() -> None:
    fams = {g.randomized(seed=s, draw=d).meta["family"] for s in range(40) for d in range(4)}
    assert fams == set(g.FAMILIES)
    a, b = g.randomized(seed=1, draw=0), g.randomized(seed=2, draw=0)
    assert a.meta != b.meta or not np.array_equal(a.pages, b.pages)
    assert np.array_equal(g.randomized(seed=7, draw=2).pages, g.randomized(seed=7, draw=2).pages)


def test_a_left_out_family_is_never_drawn_even_inside_mixtures() -> None:
    for s in range(200):
        t = g.randomized(seed=s, draw=s % 3, exclude=["seq", "interleaved"])
        assert t.meta["family"] not in ("seq", "interleaved")
        assert not {"seq", "interleaved"} & set(t.meta.get("kinds", []))


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ConfigError, match="gap"):
        g.block_stride(gap=0)
    with pytest.raises(ConfigError, match="columns"):
        g.long_stride(stride=4, columns=8)
    with pytest.raises(ConfigError, match="exclude: unknown family 'nope'"):
        g.randomized(exclude=["nope"])
    with pytest.raises(ConfigError, match="every family"):
        g.randomized(exclude=list(g.FAMILIES))
    with pytest.raises(ConfigError, match="coverage"):
        g.dense_chunks(coverage=1.5)
    with pytest.raises(ConfigError, match="sizes"):
        g.alloc_pool(sizes=(7,))
    with pytest.raises(ConfigError, match="density"):
        g.alloc_pool(density=0.0)


def test_alloc_pool_writes_aligned_groups() -> None:
    t = g.alloc_pool(n_pages=1024, sizes=(2,), density=1.0, whole=1.0, streams=1, seed=2)
    assert sorted(t.pages.tolist()) == list(range(1024))
    # one stream, whole groups, ascending inside: every 4th write starts a 4-aligned group
    assert all(p % 4 == 0 for p in t.pages[::4]) and np.all(np.diff(t.pages)[np.arange(1023)
                                                                           % 4 != 3] == 1)


def test_a_later_family_leaves_the_legacy_draws_unchanged() -> None:
    # alloc_pool was appended: every draw of a legacy family is the one it was without it
    legacy = [f for f in g.FAMILIES if f in g.LEGACY_FAMILIES]
    assert legacy == list(g.LEGACY_FAMILIES) and "alloc_pool" in g.FAMILIES
    seen = set()
    for s in range(60):
        for d in range(4):
            t = g.randomized(seed=s, draw=d)
            u = g.randomized(seed=s, draw=d, families=list(g.LEGACY_FAMILIES))
            seen.add(t.meta["family"])
            if t.meta["family"] != "alloc_pool":
                assert np.array_equal(t.pages, u.pages) and t.meta == u.meta
    assert "alloc_pool" in seen


def test_workload_configs_build() -> None:
    for name in ("block_stride", "long_stride", "short_runs", "multi_stream", "tiled2d",
                 "reverse_blocks", "dense_chunks", "mixture", "phases", "alloc_pool", "rand0",
                 "rand7"):
        assert name in available("workload")
        t = make_workload(name, seed=5)
        assert t.name == name and t.writes > 0
    t = make_workload("rand0", seed=5, exclude=["random"])
    assert t.meta["family"] != "random"


def test_structure_of_the_suite_generators() -> None:
    """The eight workload generators of the suite, on sizes small enough to write out by hand
    (only the new families' structure was checked: a reverse that ran forward, a stride with
    the wrong step, an interleaved stream that skipped pages or a phased trace without its
    sequential phases passed test_generators and test_traces)."""
    assert g.sequential(n_pages=5, writes=7, start=3).pages.tolist() == [3, 4, 0, 1, 2, 3, 4]
    assert g.reverse(n_pages=4, writes=6).pages.tolist() == [3, 2, 1, 0, 3, 2]
    assert g.stride(n_pages=8, stride=3, writes=10).pages.tolist() == [0, 3, 6, 1, 4, 7, 2, 5,
                                                                        0, 3]
    # interleaved: 3 writers over slices of 4 pages, each sequential in its slice (wrapping)
    t = g.interleaved(n_pages=12, streams=3, writes=60, seed=1)
    for s in range(3):
        mine = [p - 4 * s for p in t.pages.tolist() if 4 * s <= p < 4 * s + 4]
        assert mine == [i % 4 for i in range(len(mine))] and len(mine) > 10, (s, mine)
    assert len({tuple(t.pages[i:i + 3]) for i in range(0, 60, 3)}) > 1  # not one fixed turn
    # phased: runs of 10 sequential writes (each run goes on where the last one stopped),
    # between runs of 10 random ones
    t = g.phased(n_pages=64, writes=50, phase_writes=10, seed=2)
    seq = [t.pages[lo:lo + 10].tolist() for lo in (0, 20, 40)]
    for a, b in zip(seq, seq[1:], strict=False):
        assert b[0] == (a[-1] + 1) % 64
    for run in seq:
        assert all((y - x) % 64 == 1 for x, y in zip(run, run[1:], strict=False)), run
    assert any((y - x) % 64 != 1 for x, y in zip(t.pages[10:20], t.pages[11:20], strict=False))
    # sparse: the touched pages, each once, then writes only among them
    t = g.sparse(n_pages=100, touched=5, seed=3)
    assert t.writes == 5 and len(set(t.pages.tolist())) == 5
    again = g.sparse(n_pages=100, touched=5, writes=200, seed=3)
    assert set(again.pages.tolist()) == set(t.pages.tolist())
    # uniform: every page about equally often (8,000 writes over 8 pages: 1,000 each)
    counts = np.bincount(g.uniform(n_pages=8, writes=8000, seed=4).pages, minlength=8)
    assert counts.min() > 850 and counts.max() < 1150, counts
    # zipf: the i-th most written page takes a share i^-alpha / sum_k k^-alpha
    alpha, n = 1.2, 50
    t = g.zipf(n_pages=n, writes=40000, alpha=alpha, seed=5)
    share = np.sort(np.bincount(t.pages, minlength=n))[::-1] / 40000
    want = np.arange(1, n + 1, dtype=float) ** -alpha
    want /= want.sum()
    assert np.allclose(share[:3], want[:3], rtol=0.05), (share[:3], want[:3])
