"""Audit: the shipped policies on write patterns that no generator of the project produces.

    nice -n 19 python train.py policy=bandit costmodel=seed_table1 out=DIR_A   # ~1 min each
    nice -n 19 python train.py policy=bandit costmodel=host out=DIR_B
    python experiments/novel_patterns.py --bandit DIR_A DIR_B [--costmodels seed_table1,host]
    python experiments/novel_patterns.py --patterns matmul_ctiles --variants '{"proof_ttl": 0}'
    python experiments/novel_patterns.py --round 2 --bandit DIR_A DIR_B   # session 39's ten

Builds a few seeded traces of each pattern below (none of them a family of
``cowrl/traces/generators.py`` nor a trace of ``../shared/validation``) and measures, per cost
model (lambda 1), baseline, ``guarded`` as shipped (``conf/policy/guarded.yaml``, built as
``eval.py`` builds it: ``costmodel: auto``, the budget priced by the run's cost model),
``shield64`` likewise (``conf/policy/shield64.yaml``, the recommended policy; a column since
session 39, the same decisions as the round-1 page's ``guarded[table=64]`` at b7fc9e1), the
default bandit as a user trains it (``python train.py policy=bandit costmodel=X out=DIR``;
``--bandit`` takes such directories and uses, per cost model, the one trained for it),
``readahead``, the best fixed k in hindsight and the oracle, with
:func:`cowrl.generalization.measure` (``simulate`` and ``objective``, as the protocol does).
Prints one table per cost model (objective / baseline, / best fixed k, wasted / precopied
pages) and per policy the geometric-mean gain, its share of the oracle's gain and the worst
trace.

``--round 1`` (the default) builds the 14 patterns of 2026-12-03 (their draws unchanged);
``--round 2`` the 10 declared in session 39 before any measurement (each docstring's
"Expected:"; docs/results/novel-patterns-round2-s39.md). ``--patterns`` takes names of either.

These traces are for measurement only: never train, tune or choose options on them (nor add
them to the generators or to data/). Left out as duplicates: a downward-growing stack with
bursts (``v_stack_bursts``), plain stride-2 (``block_stride`` with block 1, gap 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

AUDIT_SEED = 20261203
"""Root of every draw here (its own stream: no generator or protocol seed draws from it)."""
SAFETY = 1.02


def _pages(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).reshape(-1)


def _trace(name: str, pages: Any, n_pages: int, **kw: Any) -> Trace:
    return Trace(pages=_pages(pages) % n_pages, n_pages=n_pages, name=name,
                 meta={"generator": f"novel_patterns.{name}"}, **kw)


def hash_probe(n: int, rng: np.random.Generator) -> Trace:
    """Open-addressing inserts: a random home page plus a linear-probe run of 1-3 pages (longer
    as the table fills, wrapping at its end); at load 0.7 the table doubles into a fresh area
    and every entry is rehashed there."""
    out, base, size, per_page = [], 0, max(2, n // 16), 8
    while base + size <= n:
        inserts = int(0.7 * per_page * size)  # the old table's entries first (the rehash)
        for i in range(inserts):
            load = i / (per_page * size)
            h = int(rng.integers(size))
            run = 1 + int(rng.random() < load ** 2) + int(rng.random() < load ** 3)
            out.append(base + (h + np.arange(run)) % size)
        base, size = base + size, 2 * size
    return _trace("hash_probe", np.concatenate(out), n)


def copying_gc(n: int, rng: np.random.Generator) -> Trace:
    """A copying GC: to-space (the upper half) filled in order, each copied page preceded by
    1-4 forwarding-pointer writes into from-space along a clustered walk (ascending, with
    jumps where the object graph leaves the neighbourhood)."""
    half = n // 2
    live = int(rng.uniform(0.3, 0.7) * half)
    out, c = [], int(rng.integers(half))
    for t in range(live):
        for _ in range(int(rng.integers(1, 5))):
            jump = rng.random() < 0.3
            c = int(rng.integers(half)) if jump else (c + int(rng.integers(1, 4))) % half
            out.append(c)
        out.append(half + t)
    return _trace("copying_gc", out, n)


def mark_bitmap(n: int, rng: np.random.Generator) -> Trace:
    """A GC mark phase: a dense bitmap (1/32 of the heap) set at random, 15% of the steps also
    writing a scattered object header elsewhere in the heap."""
    bm = max(8, n // 32)
    off = int(rng.integers(0, n - bm + 1))
    steps = 8 * bm
    bits = off + rng.integers(0, bm, size=steps)
    heads = rng.integers(0, n - bm, size=steps)
    heads = np.where(heads >= off, heads + bm, heads)
    hdr = rng.random(steps) < 0.15
    out = np.stack([bits, np.where(hdr, heads, -1)], axis=1).reshape(-1)
    return _trace("mark_bitmap", out[out >= 0], n)


def ring_log(n: int, rng: np.random.Generator) -> Trace:
    """A ring-buffer log over 60% of the region (page 0 its header): records of 1-4 pages from
    a random head, the header rewritten after each, wrapping at the ring's end (not the
    region's) for 1.5 laps; 10% of the records also update a random index page past it."""
    ring = max(8, int(0.6 * n))
    head = int(rng.integers(ring))
    out, done = [], 0
    while done < int(1.5 * ring):
        r = int(rng.integers(1, 5))
        out.extend(1 + (head + done + np.arange(r)) % ring)
        done += r
        out.append(0)
        if rng.random() < 0.1 and 1 + ring < n:
            out.append(int(rng.integers(1 + ring, n)))
    return _trace("ring_log", out, n)


def merge_passes(n: int, rng: np.random.Generator) -> Trace:
    """A balanced two-way merge sort between two buffers: each pass writes its output runs
    alternately to the two halves of the target buffer (run length doubling every pass), the
    buffers swapping roles from pass to pass."""
    h = n // 2
    q = h // 2
    out, run = [], int(rng.integers(1, 5))
    for p in range(4):
        target = h if p % 2 == 0 else 0
        cur = [0, 0]
        side = 0
        while cur[0] < q or cur[1] < q:
            if cur[side] >= q:
                side = 1 - side
            m = min(run, q - cur[side])
            out.extend(target + side * q + cur[side] + np.arange(m))
            cur[side] += m
            side = 1 - side
        run *= 2
    return _trace("merge_passes", out, n)


def matmul_ctiles(n: int, rng: np.random.Generator) -> Trace:
    """The C tiles of a blocked matrix multiply: rows of 1.25-3.75 pages (not page multiples),
    tiles of 8-32 rows x 0.5-2 pages of doubles, each tile updated once per k-block (2-4)."""
    rb = int(4096 * rng.choice([1.25, 1.5, 2.5, 3.75]))
    rows = max(1, n * 4096 // rb)
    tr = int(rng.integers(8, 33))
    tc = int(rng.choice([256, 512, 1024])) * 2  # elements (8 bytes) per tile row
    cols = rb // 8
    kb = int(rng.integers(2, 5))
    out = []
    for i0 in range(0, rows, tr):
        for j0 in range(0, cols, tc):
            for _ in range(kb):
                for r in range(i0, min(i0 + tr, rows)):
                    lo = r * rb + j0 * 8
                    hi = r * rb + min(j0 + tc, cols) * 8 - 1
                    out.extend(range(lo // 4096, min(hi // 4096, n - 1) + 1))
    return _trace("matmul_ctiles", out, n)


def sawtooth(n: int, rng: np.random.Generator) -> Trace:
    """A sliding stencil: forward about 8 pages, back about 4, again and again (net progress
    of a few pages per tooth)."""
    out, c = [], 0
    while c < n:
        f = int(rng.integers(6, 11))
        b = int(rng.integers(2, f - 3))
        out.extend(c + np.arange(f))
        out.extend(c + f - 2 - np.arange(b))
        c += f - b - 1
    return _trace("sawtooth", np.minimum(out, n - 1), n)


def stride2_records(n: int, rng: np.random.Generator) -> Trace:
    """Two-page records walked in order: 85% get only their first (header) page written,
    15% both pages, 10% are skipped (a stride-2 writer: a window of 1 ends on the next
    record's written header, so an end-of-window sentinel says it was used)."""
    recs = np.arange(n // 2)
    recs = recs[rng.random(recs.size) >= 0.1]
    both = rng.random(recs.size) < 0.15
    out = np.stack([2 * recs, np.where(both, 2 * recs + 1, -1)], axis=1).reshape(-1)
    return _trace("stride2_records", out[out >= 0], n)


def prove_then_random(n: int, rng: np.random.Generator) -> Trace:
    """A long sequential phase (half the region: every window proven, a large budget) that
    turns to uniform random writes over the whole region (a phase change after the budget
    has grown)."""
    start = int(rng.integers(0, n // 4 + 1))
    seq = start + np.arange(n // 2)
    return _trace("prove_then_random", np.concatenate([seq, rng.integers(0, n, size=n)]), n)


def size_class_runs(n: int, rng: np.random.Generator) -> Trace:
    """jemalloc-like size classes: runs of 1/2/4/8 pages carved back to back from an unaligned
    offset (so not aligned to their size), one current run per class filled in ascending
    order, the classes' allocations interleaved; 20% of the runs only partly used."""
    sizes = np.array([1, 2, 4, 8])
    starts: list[list[int]] = [[] for _ in sizes]
    s = int(rng.integers(1, 8))
    while s < n:
        c = int(rng.choice(4, p=[0.2, 0.3, 0.3, 0.2]))
        if s + sizes[c] > n:
            break
        starts[c].append(s)
        s += int(sizes[c])
    writes = []
    for c, size in enumerate(sizes):
        w = []
        for s0 in starts[c][: int(0.9 * len(starts[c])) or len(starts[c])]:
            m = int(size) if rng.random() >= 0.2 else int(rng.integers(1, size + 1))
            w.extend(s0 + np.arange(m))
        writes.append(w)
    order = np.concatenate([np.full(len(w), c) for c, w in enumerate(writes)])
    rng.shuffle(order)
    out = np.empty(order.size, dtype=np.int64)
    for c, w in enumerate(writes):
        out[order == c] = w
    return _trace("size_class_runs", out, n)


def radix_leaves(n: int, rng: np.random.Generator) -> Trace:
    """A radix tree / page-table-like index: interior nodes in the first 1/64 of the region,
    leaves in clusters of 16-48 pages at random places, inserts going to Zipf-chosen clusters
    (60% appending after the cluster's last leaf, else a random leaf), a new leaf sometimes
    writing its interior node."""
    nodes = max(1, n // 64)
    n_cl = max(1, n // 128)
    width = rng.integers(16, 49, size=n_cl)
    base = nodes + np.sort(rng.choice(max(1, n - nodes - 48), size=n_cl, replace=False))
    p = 1.0 / np.arange(1, n_cl + 1)
    p /= p.sum()
    last = np.full(n_cl, -1)
    out = []
    for _ in range(2 * n):
        c = int(rng.choice(n_cl, p=p))
        if rng.random() < 0.6:
            last[c] = min(last[c] + 1, width[c] - 1)
            leaf = int(last[c])
        else:
            leaf = int(rng.integers(width[c]))
        out.append(base[c] + leaf)
        if rng.random() < 0.05:
            out.append(c * nodes // n_cl)
    return _trace("radix_leaves", out, n)


def _process(name: str, rng: np.random.Generator, requests: int) -> Trace:
    """A forked child's short life over three regions (data, heap, stack): the stack top
    written downward, a few scattered globals, and per request a fresh heap buffer (a bump
    run of 2-16 pages) plus scattered object updates (refcounts) over the inherited heap."""
    d, h, s = int(rng.integers(32, 257)), int(rng.integers(1024, 8193)), int(rng.integers(32, 257))
    bump = int(rng.integers(h // 2, h - 64))
    out: list[int] = []
    for _ in range(requests):
        out.extend(d + h + s - 1 - np.arange(int(rng.integers(2, 9))))
        out.extend(rng.integers(0, d, size=int(rng.integers(1, 4))))
        m = int(rng.integers(2, 17))
        out.extend(d + (bump + np.arange(m)) % h)
        bump = (bump + m) % h
        out.extend(d + rng.integers(0, h, size=int(rng.integers(2, 12))))
    return _trace(name, out, d + h + s, region_sizes=np.array([d, h, s]))


def fork_exec(n: int, rng: np.random.Generator) -> Trace:
    """A child that execs soon: 1-3 requests' worth of writes (some 20-100 faults)."""
    return _process("fork_exec", rng, int(rng.integers(1, 4)))


def fork_worker(n: int, rng: np.random.Generator) -> Trace:
    """A prefork worker that serves 8-24 requests before its parent is measured (some
    150-300 faults)."""
    return _process("fork_worker", rng, int(rng.integers(8, 25)))


def many_vmas(n: int, rng: np.random.Generator) -> Trace:
    """A child's first writes to the small writable mappings of its shared libraries (.data,
    .got, .bss of 20-80 libraries: 1-16 pages each, one region each): per library a few of its
    pages, in ascending order or at random, libraries visited in random order and revisited."""
    sizes = rng.integers(1, 17, size=int(rng.integers(20, 81)))
    ends = np.cumsum(sizes)
    out: list[int] = []
    for lib in np.concatenate([rng.permutation(sizes.size), rng.integers(0, sizes.size, 20)]):
        size, lo = int(sizes[lib]), int(ends[lib] - sizes[lib])
        m = int(rng.integers(1, size + 1))
        inside = np.arange(m) if rng.random() < 0.5 else rng.permutation(size)[:m]
        out.extend(lo + inside)
    return _trace("many_vmas", out, int(ends[-1]), region_sizes=sizes)


BUILDERS: dict[str, Callable[[int, np.random.Generator], Trace]] = {
    f.__name__: f for f in (hash_probe, copying_gc, mark_bitmap, ring_log, merge_passes,
                            matmul_ctiles, sawtooth, stride2_records, prove_then_random,
                            size_class_runs, radix_leaves, fork_exec, fork_worker, many_vmas)}
"""Every pattern (name -> builder of a trace over about ``n`` pages). ``fork_exec``,
``fork_worker`` (three regions) and ``many_vmas`` (20-80) draw their own sizes, ignoring
``n``."""


# --- Round 2 (session 39, 2026-12-07): ten more patterns, declared before any measurement ----
# Each docstring says what the pattern imitates, its shape and what was expected of the
# policies before the first run ("Expected:"; objective / baseline under seed_table1, host
# alike unless said). Every round-2 trace keeps each page's first write only, in order (a
# later write to a private page takes no fault and decides nothing; it bounds the length).

AUDIT_SEED_2 = 20261207
"""Root of the round-2 draws (its own stream, as :data:`AUDIT_SEED` for round 1)."""


def _first(pages: Any) -> np.ndarray:
    """Each page's first write, in order."""
    p = _pages(pages)
    _, idx = np.unique(p, return_index=True)
    return p[np.sort(idx)]


def _trace2(name: str, pages: Any, n_pages: int, **meta: Any) -> Trace:
    p = _first(pages)
    if p.size == 0 or int(p.min()) < 0 or int(p.max()) >= n_pages:
        raise ValueError(f"{name}: a page outside 0..{n_pages - 1}")  # a builder's bug
    return Trace(pages=p, n_pages=n_pages, name=name,
                 meta={"generator": f"novel_patterns.{name}", **meta})


def _spread(v: np.ndarray) -> np.ndarray:
    """The bits of ``v`` at the even positions (bit i -> bit 2i): half of a Morton code."""
    v = np.asarray(v, dtype=np.int64)
    out = np.zeros_like(v)
    for i in range(16):
        out |= ((v >> i) & 1) << (2 * i)
    return out


def _bitrev(v: np.ndarray, bits: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.int64)
    out = np.zeros_like(v)
    for i in range(bits):
        out |= ((v >> i) & 1) << (bits - 1 - i)
    return out


def zorder_rows(n: int, rng: np.random.Generator) -> Trace:
    """A Morton-ordered (Z-order, "swizzled") square array of 4- or 8-byte elements (a GPU-style
    texture, a cache-oblivious matrix layout) written in raster order, row by row, over a
    crop of 40-100% of its side in each direction. A page holds a 32 x 32 (4-byte) or
    32 x 16 (8-byte) tile; the rows of one tile band write the same pages, so the band's
    first writes are the pages whose index spreads the tile column's bits: 0, 2, 8, 10, 32, ..
    (8-byte: bit 0 of a page index is a y bit, adjacent pages lie in different bands) or
    0, 1, 4, 5, 16, 17, .. (4-byte: pairs), the next band the interleaved ones. Dense over the
    crop, adjacency only a band later.
    Expected: best fixed k large (32-64), <= 0.78; guarded and shield64 0.95-1.00 (late
    proofs: a window's pages are written a band, tens to hundreds of faults, later); readahead
    ~1.0 (8-byte) or somewhat below (4-byte pairs); safe; misses 1.10 x best k and the
    oracle-share target."""
    esize = int(rng.choice([4, 8]))
    b = 10 if esize == 4 else 9  # log2 elements per page
    m = max(5, (int(np.log2(n)) + b) // 2)  # side 2^m, 2^(2m-b) pages <= n (>= 1)
    while m > 5 and 2 ** (2 * m - b) > n:
        m -= 1
    side = 2 ** m
    tw, th = 32, 2 ** (b - 5)  # a page's tile: 32 wide, 32 / 16 tall
    x0, x1 = sorted(rng.integers(0, side + 1, size=2))
    while x1 - x0 < int(0.4 * side):
        x0, x1 = sorted(rng.integers(0, side + 1, size=2))
    y0, y1 = sorted(rng.integers(0, side + 1, size=2))
    while y1 - y0 < int(0.4 * side):
        y0, y1 = sorted(rng.integers(0, side + 1, size=2))
    xs = np.arange(x0 - x0 % tw, x1, tw)
    out = []
    for y in range(y0 - y0 % th, y1, th):
        out.append((_spread(xs) | (_spread(np.full(xs.size, y)) << 1)) >> b)
    return _trace2("zorder_rows", np.concatenate(out), 2 ** (2 * m - b), esize=esize)


def bit_reversal(n: int, rng: np.random.Generator) -> Trace:
    """The in-place bit-reversal permutation of an FFT (complex floats or doubles, 512 or 256
    per page) over an array of 2^k pages (the largest power of two in the region, or a half or
    a quarter of it) at a random page offset in the region (the rest of the heap is not
    written): for i ascending, if i < rev(i), swap x[i] and x[rev(i)]. First writes, relative
    to the array: page 0, then a/2, a/4, 3a/4, a/8, .. (a = 2^k pages: a comb of stride a/E
    visited in bit-reversed order, E elements per page), then the comb shifted by half its
    stride, ..: every page of the array written, in an order with no adjacency until the
    comb's offsets meet.
    Expected: like ``hash_probe`` (dense in an order no context predicts): best fixed k 64
    0.70-0.80 / 0.77-0.85, oracle near it; guarded, shield64 and readahead ~1.00; safe;
    misses 1.10 x best k and the oracle-share target."""
    esize = int(rng.choice([8, 16]))
    e = 4096 // esize
    k = max(0, int(np.log2(n)) - int(rng.integers(0, 3)))
    base = int(rng.integers(0, n - 2 ** k + 1))
    bits = k + int(np.log2(e))
    i = np.arange(2 ** bits, dtype=np.int64)
    r = _bitrev(i, bits)
    sw = i < r
    out = base + np.stack([i[sw], r[sw]], axis=1).reshape(-1) // e
    return _trace2("bit_reversal", out, n, esize=esize, array_pages=2 ** k, array_base=base)


def dp_wavefront(n: int, rng: np.random.Generator) -> Trace:
    """A dynamic-programming table (edit distance / Smith-Waterman: 2-, 4- or 8-byte cells,
    rows of R = 2..8 pages, row-major) filled by a blocked wavefront, as parallel DP codes
    fill it: tiles of B = 8..64 rows x one page of cells, tile (i, j) (rows iB.., the j-th
    page of the row) in wave i + j, the tiles of a wave one after another (i ascending), each
    tile's rows in order. Page (r, c) is written in wave r // B + c: a tile is a run of B
    pages at stride R, and a wave visits several such runs, each B rows further down and one
    page to the left (column c's stream runs B rows behind column c - 1's; between runs the
    writes jump about B * R pages forward).
    Expected: best fixed k 64 (dense, every page eventually written) ~0.70 / ~0.77; guarded
    and shield64 gain part of it with strided windows inside a tile's run (0.75-0.95); the
    adjacent page (the next column) comes a wave later; readahead ~1.0; safe."""
    esize = int(rng.choice([2, 4, 8]))
    e = 4096 // esize
    rp = int(rng.integers(2, 9))
    tb = int(2 ** rng.integers(3, 7))
    rows = max(1, n // rp)
    r, c = np.meshgrid(np.arange(rows), np.arange(rp), indexing="ij")
    r, c = r.reshape(-1), c.reshape(-1)
    order = np.lexsort((r, r // tb, r // tb + c))
    return _trace2("dp_wavefront", (r * rp + c)[order], rows * rp, row_pages=rp,
                   cells_per_page=e, tile_rows=tb)


def bfs_grid(n: int, rng: np.random.Generator) -> Trace:
    """A breadth-first search / flood fill over a 2-D grid (distance labels of 4 or 8 bytes,
    rows of R = 1..4 pages, row-major) from a random source cell, stopped when the target is
    found at a level covering 30-100% of the grid. Page (r, c) is first written at level
    |r - r0| + the column distance from c0 to the page's cells; inside a level in the queue's
    (here a random) order. Shape: an expanding diamond: per level the page of row r0 - l and
    that of row r0 + l (two strided streams, -R and +R pages, interleaved), a page to the
    side every E levels.
    Expected: best fixed k large (16-64) 0.72-0.90; guarded and shield64 0.97-1.00 (the two
    streams alternate, so no constant stride, and adjacent pages come E levels later);
    readahead ~1.0; safe; misses 1.10 x best k."""
    esize = int(rng.choice([4, 8]))
    e = 4096 // esize
    rp = int(rng.integers(1, 5))
    rows = max(1, n // rp)
    r0, c0 = int(rng.integers(rows)), int(rng.integers(rp * e))
    r, c = np.meshgrid(np.arange(rows), np.arange(rp), indexing="ij")
    lo, hi = c * e, c * e + e - 1
    dc = np.where(c0 < lo, lo - c0, np.where(c0 > hi, c0 - hi, 0))
    level = (np.abs(r - r0) + dc).reshape(-1)
    stop = np.quantile(level, rng.uniform(0.3, 1.0))
    key = level + rng.random(level.size) * 0.5
    order = np.argsort(key, kind="stable")
    order = order[level[order] <= stop]
    return _trace2("bfs_grid", (r * rp + c).reshape(-1)[order], rows * rp, row_pages=rp,
                   cells_per_page=e, source=(r0, c0))


def omp_dynamic(n: int, rng: np.random.Generator) -> Trace:
    """First touch of an array by T = 2..16 threads under an OpenMP ``schedule(dynamic, C)``
    loop (C = 4..64 pages): a thread writes its chunk in ascending order, then claims the next
    chunk from a shared counter; threads run at speeds differing by up to 3x (a random
    interleaving weighted by speed). Shape: T sequential streams, each hopping forward to the
    frontier whenever its chunk ends; dense.
    Expected: guarded and shield64 gain most of what a fixed k gains (0.72-0.85 under
    seed_table1; a window past a chunk's end covers a chunk another thread writes soon, so
    few copies are wasted), best fixed k 64 ~0.69 / ~0.76; readahead close to best k; safe;
    within 1.10 x best k on most draws."""
    t = int(rng.integers(2, 17))
    c = int(2 ** rng.integers(2, 7))
    speed = rng.uniform(1.0, 3.0, size=t)
    speed /= speed.sum()
    chunks = (n + c - 1) // c
    nxt = 0
    pos = np.full(t, -1)
    end = np.full(t, -1)
    out: list[int] = []
    while True:
        for th in rng.choice(t, size=4096, p=speed):
            if pos[th] >= end[th]:
                if nxt >= chunks:
                    continue
                pos[th], end[th] = nxt * c, min(n, (nxt + 1) * c)
                nxt += 1
            out.append(int(pos[th]))
            pos[th] += 1
        if nxt >= chunks and (pos >= end).all():
            break
    return _trace2("omp_dynamic", out, n, threads=t, chunk=c)


def fractional_stride(n: int, rng: np.random.Generator) -> Trace:
    """One field of every selected record of an array of structs of S bytes, S = 1.1-6.0
    pages and not a page multiple (per-connection state, game entities, a row store's wide
    rows: an ``UPDATE .. SET field`` over 60-100% of them, ascending). The field's page is
    floor((i * S + off) / 4096): an ascending walk whose gaps alternate between floor(S) and
    ceil(S) pages (in pages), never a constant stride; for S < 2 pages pairs of adjacent
    pages then a gap.
    Expected: best fixed k 0 (S >= 2 pages) or 1 (S < 2: page + 1 written half the time);
    guarded and shield64 0.97-1.00 (<= 1.01), waste a few % of their few copies; readahead
    above 1.02 on some draws (a window at each pair, as on ``stride2_records``); misses
    1.10 x best k where k = 1 gains."""
    size = int(round(rng.uniform(1.1, 6.0) * 64)) * 64
    if size % 4096 == 0:
        size += 64
    off = int(rng.integers(0, size // 8)) * 8
    recs = (n * 4096 - off) // size
    i = np.arange(recs)
    i = i[rng.random(recs) < rng.uniform(0.6, 1.0)]
    return _trace2("fractional_stride", (i * size + off) // 4096, n, record_bytes=size,
                   field_offset=off)


def refcount_walk(n: int, rng: np.random.Generator) -> Trace:
    """CPython after fork: a loop over a list (``for x in xs``) increments each element's
    reference count, writing its object header. Objects of 32 B-4 KiB (log-normal) were
    allocated back to back; the list holds a share q = 5-90% of them, in allocation order
    except 0-30% allocated elsewhere (random pages of the heap); every 20th step also writes
    one of 2-8 hot pages (type objects, small ints: first write only). Shape: an ascending
    walk whose gaps are geometric (page without a list element skipped), with random
    excursions.
    Expected: best fixed k 2-16, 0.75-0.95; guarded and shield64 part of it (0.85-1.00),
    safe; readahead near best k where q is high, above 1.0 where it is low."""
    sizes = np.clip(np.exp(rng.normal(np.log(200), 1.2, size=n * 64)), 32, 4096).astype(np.int64)
    addr = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    addr = addr[addr < n * 4096]
    q = rng.uniform(0.05, 0.9)
    mine = addr[rng.random(addr.size) < q] // 4096
    away = rng.random(mine.size) < rng.uniform(0.0, 0.3)
    mine = np.where(away, rng.integers(0, n, size=mine.size), mine)
    hot = rng.integers(0, n, size=int(rng.integers(2, 9)))
    ins = np.arange(0, mine.size, 20)
    out = np.insert(mine, ins, hot[rng.integers(0, hot.size, size=ins.size)])
    return _trace2("refcount_walk", out, n, share=float(q))


def sliding_compact(n: int, rng: np.random.Generator) -> Trace:
    """A sliding mark-compact collector (LISP2) after fork: objects of 16 B-8 KiB, live in
    runs (live and dead runs of geometric length, 20-80% live). Pass 1 writes a forwarding
    address into each live object's header (ascending over the live objects), pass 2 updates
    the pointers inside each live object (ascending; new pages only where an object spans
    several), pass 3 slides the live objects down to the heap's start (ascending over the
    compacted prefix; new pages only the dead runs pass 1 skipped there). Shape: at most
    three ascending sweeps, the first with gaps (dead runs), the last filling the gaps below
    the compacted size.
    Expected: guarded and shield64 gain in pass 1 (0.80-0.92; a window over a dead run is
    proven only in pass 3, if at all); best fixed k 8-64 0.70-0.85; readahead near best k;
    safe."""
    sizes = np.clip(np.exp(rng.normal(np.log(300), 1.3, size=n * 32)), 16, 8192).astype(np.int64)
    addr = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    keep = addr + sizes <= n * 4096
    sizes, addr = sizes[keep], addr[keep]
    frac = rng.uniform(0.2, 0.8)
    mean_run = float(rng.integers(4, 65))  # objects per run (live or dead)
    live = np.zeros(addr.size, dtype=bool)
    j, state = 0, rng.random() < frac
    while j < addr.size:
        ln = int(rng.geometric(1 / (mean_run * (frac if state else 1 - frac) * 2)))
        live[j:j + ln] = state
        j += ln
        state = not state
    la, ls = addr[live], sizes[live]
    p1 = la // 4096
    first, last = la // 4096, (la + ls - 1) // 4096
    span = last - first + 1  # pass 2: every page of each live object, in order
    p2 = np.repeat(first, span) + np.arange(int(span.sum())) - np.repeat(np.cumsum(span) - span,
                                                                          span)
    p3 = np.arange(0, (int(ls.sum()) + 4095) // 4096)
    return _trace2("sliding_compact", np.concatenate([p1, p2, p3]), n, live=float(frac))


def segment_tree(n: int, rng: np.random.Generator) -> Trace:
    """Point updates of an implicit binary tree in an array (a segment / Fenwick-like tree in
    heap (Eytzinger) layout: node i's parent i // 2; nodes of 8, 16 or 32 bytes) over the
    largest power of two of pages in the region: each update writes a leaf (uniform keys, or
    Zipf-hot keys scattered over the leaves) then its ancestors up to the root. A page's
    parent page is page // 2, so the first writes are a random leaf page (upper half of the
    region) followed by the new pages of its chain p // 2, p // 4, ..; 0.05-3 updates per leaf
    page (log-uniform). Shape: random over the upper half, halving chains below it; the
    written pages are closed under p -> p // 2.
    Expected: sparse at few updates (best fixed k 0, oracle ~0.8), dense in random order at
    many (best fixed k 64 like ``hash_probe``); guarded and shield64 ~1.00 (<= 1.01), waste
    a few of their few copies; readahead ~1.0; misses 1.10 x best k on the dense draws."""
    esize = int(rng.choice([8, 16, 32]))
    e = 4096 // esize
    k = int(np.log2(n))
    leaves = (2 ** k) * e // 2  # leaves at indices [leaves, 2 * leaves)
    ups = max(1, int(np.exp(rng.uniform(np.log(0.05), np.log(3.0))) * 2 ** (k - 1)))
    if rng.random() < 0.5:
        keys = rng.integers(0, leaves, size=ups)
    else:
        keys = rng.permutation(leaves)[np.minimum(rng.zipf(1.2, size=ups) - 1, leaves - 1)]
    depth = int(np.log2(leaves)) + 1
    node = (leaves + keys)[:, None] >> np.arange(depth)[None, :]
    return _trace2("segment_tree", (node * esize // 4096).reshape(-1), 2 ** k,
                   node_bytes=esize)


def boundary_tags(n: int, rng: np.random.Generator) -> Trace:
    """A boundary-tag allocator (dlmalloc-like, over chunks of 1-64 pages, sizes geometric
    with mean 4-16) coalescing after a batch of frees: one ascending sweep over the chunks
    writes each chunk's header (its first page) and, for the 30-70% freed, also its footer
    (its last page; merges rewrite headers already written). Shape: strictly ascending, one
    or two pages per chunk; a footer and the next chunk's header are adjacent (a pair, then
    a gap of a chunk).
    Expected: best fixed k 0 or 1; guarded and shield64 0.97-1.00 (<= 1.01), waste a few %
    of their few copies; readahead above 1.02 on some draws (a window at each pair);
    safe; within 1.10 x best k where k = 0 is best."""
    mean = float(rng.uniform(4, 16))
    sizes = np.minimum(rng.geometric(1 / mean, size=n), 64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    keep = starts + sizes <= n
    starts, sizes = starts[keep], sizes[keep]
    freed = rng.random(starts.size) < rng.uniform(0.3, 0.7)
    foot = np.where(freed & (sizes > 1), starts + sizes - 1, -1)
    out = np.stack([starts, foot], axis=1).reshape(-1)
    return _trace2("boundary_tags", out[out >= 0], n)


BUILDERS_2: dict[str, Callable[[int, np.random.Generator], Trace]] = {
    f.__name__: f for f in (zorder_rows, bit_reversal, dp_wavefront, bfs_grid, omp_dynamic,
                            fractional_stride, refcount_walk, sliding_compact, segment_tree,
                            boundary_tags)}
"""Round 2's patterns (session 39). Regions: ``n`` pages, or the largest power of two of pages
in it (``segment_tree``), or the array's own size in it (``zorder_rows``, ``dp_wavefront``,
``bfs_grid``)."""


ROUNDS: dict[int, dict[str, Callable[[int, np.random.Generator], Trace]]] = {
    1: BUILDERS, 2: BUILDERS_2}
"""The audit's rounds: ``--round 1`` (the default) is the 14 patterns of 2026-12-03, whose
figures it reproduces; ``--round 2`` the 10 of session 39."""


def build(name: str, draw: int, n_pages: int | None = None) -> Trace:
    """Draw ``draw`` of pattern ``name`` (of either round): region log-uniform in 512..16384
    pages unless ``n_pages`` is given."""
    if name in BUILDERS:
        idx, root, fn = list(BUILDERS).index(name), AUDIT_SEED, BUILDERS[name]
    elif name in BUILDERS_2:
        idx, root, fn = list(BUILDERS_2).index(name), AUDIT_SEED_2, BUILDERS_2[name]
    else:
        raise ConfigError(f"--patterns: unknown pattern {name!r} (patterns: "
                          f"{', '.join([*BUILDERS, *BUILDERS_2])})")
    rng = np.random.default_rng([root, idx, draw])
    n = int(n_pages) if n_pages is not None else int(round(np.exp(rng.uniform(np.log(512),
                                                                             np.log(16384)))))
    t = fn(n, rng)
    return Trace(pages=t.pages, n_pages=t.n_pages, name=f"{name}_{draw}", meta=t.meta,
                 region_sizes=t.region_sizes)


def bandit_for(dirs: Sequence[Path], costmodel: str) -> Any:
    """The bandit artifact (of ``dirs``) trained for ``costmodel``, else None."""
    from cowrl.policies.artifacts import load_policy, read_artifact

    for d in dirs:
        art = read_artifact(d)
        cfg = art.get("config") or {}
        if isinstance(cfg, str):
            cfg = json.loads(cfg)
        if (cfg.get("costmodel") or {}).get("name") == costmodel:
            return load_policy(art["_path"], name="bandit")
    return None


def variant(overrides: dict[str, Any]) -> Any:
    """``guarded`` as shipped with some of ``conf/policy/guarded.yaml``'s keys overridden
    (a diagnosis, never a choice: named ``guarded[key=value,...]``)."""
    from omegaconf import OmegaConf

    from cowrl.registry import group_config, make_policy

    name = "guarded[" + ",".join(f"{k}={v}" for k, v in overrides.items()) + "]"
    cfg = group_config("policy", "guarded")
    unknown = [k for k in overrides if k not in cfg]
    if unknown:
        raise ConfigError(f"--variants: {unknown[0]!r} is not a key of "
                          "conf/policy/guarded.yaml")
    return make_policy(OmegaConf.merge(cfg, {**overrides, "name": name}))


def run(costmodel: str, traces: Sequence[Trace], bandit_dirs: Sequence[Path],
        progress: bool = True, variants: Sequence[dict[str, Any]] = ()
        ) -> list[dict[str, Any]]:
    """The rows of :func:`cowrl.generalization.measure` for the audited policies (and the
    ``variants`` of guarded, after them)."""
    from tqdm import tqdm

    from cowrl.generalization import measure
    from cowrl.metrics import summarize
    from cowrl.registry import make_costmodel, make_policy
    from cowrl.sim.simulator import simulate

    cost = make_costmodel(costmodel)
    policies = [make_policy("baseline"), make_policy("guarded"), make_policy("shield64")]
    bandit = bandit_for(bandit_dirs, costmodel)
    if bandit is not None:
        policies.append(bandit)
    elif bandit_dirs:
        print(f"{costmodel}: no --bandit artifact trained for it; bandit left out")
    policies.append(make_policy("readahead"))
    policies += [variant(v) for v in variants]
    rows: list[dict[str, Any]] = []
    for t in tqdm(traces, desc=costmodel, disable=not progress, leave=False):
        got = measure(policies, [t], cost, 1.0)
        for p in policies:  # per-write latency: what the objective does not price
            rec: Any = simulate(t, p, cost)
            lat = summarize(rec, 1.0, cost.page_cost_ns)
            tallies = {k: v for k, v in (rec.extra or {}).items() if k.startswith("guard_")}
            for r in got:  # and a GUARDED program's decision tallies (the --json rows)
                if r["policy"] == p.name:
                    r.update(write_p99_ns=lat["write_p99_ns"], write_max_ns=lat["write_max_ns"],
                             **tallies)
        for r in got:
            r.update(n_pages=t.n_pages, writes=t.writes)
        rows += got
    return rows


def report(costmodel: str, rows: Sequence[dict[str, Any]]) -> str:
    """One table (a row per trace) and the per-policy summary."""
    from cowrl.generalization import check_targets
    from cowrl.metrics import geomean

    pols = [p for p in ("baseline", "guarded", "shield64", "bandit", "readahead") if any(
        r["policy"] == p for r in rows)]
    pols += [p for p in dict.fromkeys(r["policy"] for r in rows) if p.startswith("guarded[")]
    pols += ["precopy_best", "oracle"]
    by = {(r["trace"], r["policy"]): r for r in rows}
    traces = list(dict.fromkeys(r["trace"] for r in rows))
    sizes = {r["trace"]: (r["n_pages"], r["writes"]) for r in rows}
    lines = [f"## {costmodel} (lambda 1): objective / baseline, [/ best fixed k], "
             "wasted/precopied pages",
             "",
             "| trace | pages | writes | " + " | ".join(
                 "baseline faults" if p == "baseline" else p for p in pols) + " |",
             "|---|---|---|" + "---|" * len(pols)]
    for t in traces:
        cells = []
        for p in pols:
            r = by[(t, p)]
            if p == "baseline":
                cells.append(f"{r['faults']}")
            elif p == "precopy_best":
                cells.append(f"{r['ratio']:.3f} (k={r['best_k']})")
            elif p == "oracle":
                cells.append(f"{r['ratio']:.3f}")
            else:
                flag = " **!**" if r["ratio"] > SAFETY else ""
                cells.append(f"{r['ratio']:.3f}{flag} [{r['vs_best']:.2f}] "
                             f"{r['wasted']}/{r['precopied']}")
        lines.append(f"| {t} | {sizes[t][0]} | {sizes[t][1]} | " + " | ".join(cells) + " |")
    pats = list(dict.fromkeys(t.rsplit("_", 1)[0] for t in traces))
    shown = [p for p in pols if p != "baseline"]
    lines += ["", "Per pattern: geometric mean of objective / baseline over its draws "
              "(the worst draw in brackets)", "",
              "| pattern | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
    for pat in pats:
        cells = []
        for p in shown:
            rr = [r["ratio"] for r in rows
                  if r["policy"] == p and r["trace"].rsplit("_", 1)[0] == pat]
            cells.append(f"{geomean(rr):.3f} ({max(rr):.3f})")
        lines.append(f"| {pat} | " + " | ".join(cells) + " |")
    lines += ["", "| policy | gain | share of oracle | worst | over 1.02 | wasted/precopied "
              "| max write latency |", "|---|---|---|---|---|---|---|"]
    for p in pols:
        rr = [r for r in rows if r["policy"] == p]
        tg = check_targets(rr)
        share = "-" if tg["gain_share"] is None else f"{tg['gain_share']:.2f}"
        over = sum(r["ratio"] > SAFETY for r in rr)
        wp = "-" if p == "precopy_best" else f"{tg['wasted_all']}/" + str(
            sum(max(r["precopied"], 0) for r in rr))
        lat = [r["write_max_ns"] for r in rr if "write_max_ns" in r]
        lat_s = f"{max(lat) / 1000:.0f} us" if lat else "-"
        lines.append(f"| {p} | {100 * tg['gain']:+.1f}% | {share} | {tg['safety']:.4f} "
                     f"({tg['safety_trace']}) | {over}/{len(rr)} | {wp} | {lat_s} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bandit", type=Path, nargs="*", default=[],
                    help="train.py out= directories of the default bandit (one per cost model; "
                         "matched by the cost model it was trained for)")
    ap.add_argument("--costmodels", default="seed_table1,host")
    ap.add_argument("--round", type=int, choices=sorted(ROUNDS), default=1,
                    help="the patterns of round 1 (2026-12-03, 14) or round 2 (session 39, 10)")
    ap.add_argument("--patterns", default=None,
                    help="comma-separated pattern names of either round (default: the round's)")
    ap.add_argument("--draws", type=int, default=8, help="traces per pattern")
    ap.add_argument("--n-pages", type=int, default=None,
                    help="every region this size (default: log-uniform 512..16384 per draw)")
    ap.add_argument("--variants", nargs="*", default=[],
                    help="diagnosis: guarded with some guarded.yaml keys overridden, each a "
                         "JSON object (e.g. '{\"proof_ttl\": 0}')")
    ap.add_argument("--json", type=Path, default=None, help="write every row here")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    check_draws(args.draws)
    try:
        variants = [json.loads(v) for v in args.variants]
    except ValueError as e:
        ap.error(f"--variants: not JSON ({e})")
    if not all(isinstance(v, dict) and v for v in variants):
        ap.error("--variants: each must be a non-empty JSON object")
    patterns = args.patterns or ",".join(ROUNDS[args.round])
    traces = [build(p, d, args.n_pages) for p in patterns.split(",")
              for d in range(args.draws)]
    out: dict[str, list[dict[str, Any]]] = {}
    for cm in args.costmodels.split(","):
        out[cm] = run(cm, traces, args.bandit, progress=not args.no_progress,
                      variants=variants)
        print(report(cm, out[cm]), flush=True)
        print()
    if args.json is not None:
        args.json.write_text(json.dumps(out, default=float, indent=1))
    return out


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
