"""Audit: the shipped policies on write patterns that no generator of the project produces.

    nice -n 19 python train.py policy=bandit costmodel=seed_table1 out=DIR_A   # ~1 min each
    nice -n 19 python train.py policy=bandit costmodel=host out=DIR_B
    python experiments/novel_patterns.py --bandit DIR_A DIR_B [--costmodels seed_table1,host]
    python experiments/novel_patterns.py --patterns matmul_ctiles --variants '{"proof_ttl": 0}'
    python experiments/novel_patterns.py --round 2 --bandit DIR_A DIR_B   # session 39's ten
    python experiments/novel_patterns.py --round 2 --draws 2 --save DIR   # trace files, no run

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

``--save DIR`` writes the built traces as ``DIR/<pattern>_<draw>.npz`` (``cowrl/traces/io.py``,
regions included) and stops: files for ``eval.py traces=[...]`` on a measured target
(``experiments/novel_kernel.py``), reproducible from this script, so kept out of the repository.

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
# None is a shape of the session 19-24 unseen-shape audits either (docs/results/
# unseen-shapes-s2*.md, kernel-unseen-shapes-1ecc2ee.md).

AUDIT_SEED_2 = 20261207
"""Root of the round-2 draws (its own stream, as :data:`AUDIT_SEED` for round 1)."""


def _first(pages: Any) -> np.ndarray:
    """Each page's first write, in order."""
    p = _pages(pages)
    _, idx = np.unique(p, return_index=True)
    return p[np.sort(idx)]


def _trace2(name: str, pages: Any, n_pages: int, region_sizes: Any = None, **meta: Any
            ) -> Trace:
    p = _first(pages)
    if p.size == 0 or int(p.min()) < 0 or int(p.max()) >= n_pages:
        raise ValueError(f"{name}: a page outside 0..{n_pages - 1}")  # a builder's bug
    rs = None if region_sizes is None else np.asarray(region_sizes, dtype=np.int64)
    return Trace(pages=p, n_pages=n_pages, name=name, region_sizes=rs,
                 meta={"generator": f"novel_patterns.{name}", **meta})


def _spread(v: np.ndarray) -> np.ndarray:
    """The bits of ``v`` at the even positions (bit i -> bit 2i): half of a Morton code."""
    v = np.asarray(v, dtype=np.int64)
    out = np.zeros_like(v)
    for i in range(16):
        out |= ((v >> i) & 1) << (2 * i)
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


def mmap_buffers(n: int, rng: np.random.Generator) -> Trace:
    """Large allocations that malloc serves with mmap (I/O buffers, numpy temporaries): 16-1024
    pages each (log-uniform), one region each, about ``n`` pages in all, each filled from its
    start to a depth of 20-100% of it (30% of them full), 1-4 in flight at once (a random
    interleaving of their cursors), the next one starting when one is done. Shape: per region
    a sequential run from its first page to a partial depth; several regions' runs
    interleaved.
    Expected: guarded and shield64 gain most of it (0.75-0.85 under seed_table1; the first
    faults of each region pay the start, a window past a partial depth is wasted, one at a
    full buffer's end clipped); best fixed k 16-64, 0.70-0.80; readahead near best k; safe;
    within 1.10 x best k on most draws."""
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(round(np.exp(rng.uniform(np.log(16), np.log(1024))))))
    sz = np.array(sizes)
    depth = np.where(rng.random(sz.size) < 0.3, sz,
                     np.maximum(1, (sz * rng.uniform(0.2, 1.0, size=sz.size)).astype(int)))
    ends = np.cumsum(sz) - sz
    flight = int(rng.integers(1, 5))
    active = list(range(min(flight, sz.size)))
    nxt, pos = len(active), {b: 0 for b in active}
    out: list[int] = []
    while active:
        b = active[int(rng.integers(len(active)))]
        out.append(int(ends[b] + pos[b]))
        pos[b] += 1
        if pos[b] >= depth[b]:
            active.remove(b)
            if nxt < sz.size:
                active.append(nxt)
                pos[nxt] = 0
                nxt += 1
    return _trace2("mmap_buffers", out, int(sz.sum()), region_sizes=sz, in_flight=flight)


def row_swaps(n: int, rng: np.random.Generator) -> Trace:
    """A row permutation applied by swaps (LAPACK's ``laswp`` applying partial-pivoting
    interchanges, a sort of a matrix's rows): rows of 0.5-8 pages, not page-aligned; for row
    i ascending, with probability 0.3-1.0 a swap with row p > i (p - i geometric with a mean
    of 2-64 rows, or uniform over the rows below), both rows' pages written. Shape: a frontier
    of row runs ascending, each swap also a run at a row ahead (near or anywhere below); the
    frontier later finds the swapped rows already written (private holes).
    Expected: best fixed k 8-64, 0.70-0.85; guarded and shield64 0.80-0.95 (the frontier is
    sequential; windows at a far run's end are wasted where pivots are uniform); readahead
    near best k; safe."""
    rb = int(rng.uniform(0.5, 8.0) * 64) * 64
    if rb % 4096 == 0:
        rb += 64
    rows = max(2, n * 4096 // rb)
    swap = rng.uniform(0.3, 1.0)
    near = rng.random() < 0.5
    mean = float(rng.integers(2, 65))
    out: list[np.ndarray] = []
    for i in range(rows - 1):
        if rng.random() >= swap:
            continue
        d = int(rng.geometric(1 / mean)) if near else int(rng.integers(1, rows - i))
        p = min(rows - 1, i + d)
        for r in (i, p):
            out.append(np.arange(r * rb // 4096, ((r + 1) * rb - 1) // 4096 + 1))
    if not out:
        out.append(np.arange(0, (rb - 1) // 4096 + 1))
    n_pages = (rows * rb + 4095) // 4096
    return _trace2("row_swaps", np.concatenate(out), n_pages, row_bytes=rb,
                   near=bool(near))


def heap_sift(n: int, rng: np.random.Generator) -> Trace:
    """A discrete-event simulator's binary-heap event queue (Eytzinger array, entries of 16 or
    32 bytes; children of i at 2i + 1, 2i + 2), 50-90% full at the fork, run in the hold
    model: each step pops the minimum (the last entry moved to the root and sifted down a
    random child path to 0-2 levels above the bottom: every node on the path written) and
    pushes a later event (written at the tail, sifted up 0-3 levels); 0.1-3 steps per page.
    A node's page p has its children at pages about 2p and 2p + 1, so the first writes are
    page 0 then, per pop, the new pages of a doubling chain p, ~2p, ~4p, .. (ascending
    addresses) ending at a random page near the bottom. Shape: ascending doubling chains from
    the root, random ends; every written page but the tail's holds a child of an entry of a
    written page.
    Expected: sparse at few steps (best fixed k 0, oracle ~0.8), dense in random order at
    many (best fixed k 64); guarded and shield64 ~1.00 (<= 1.01), waste a few of their few
    copies; readahead ~1.0; misses 1.10 x best k on the dense draws."""
    esize = int(rng.choice([16, 32]))
    e = 4096 // esize
    cap = n * e
    size = int(cap * rng.uniform(0.5, 0.9))
    steps = max(1, int(n * np.exp(rng.uniform(np.log(0.1), np.log(3.0)))))
    depth = int(np.log2(size))
    out: list[int] = []
    for _ in range(steps):
        stop = depth - int(rng.integers(0, 3))
        i = 0
        out.append(0)
        for _lvl in range(stop):
            c = 2 * i + 1 + int(rng.integers(2))
            if c >= size:
                break
            i = c
            out.append(i // e)
        j = size - 1
        out.append(j // e)
        for _lvl in range(int(rng.integers(0, 4))):
            j = (j - 1) // 2
            out.append(j // e)
    return _trace2("heap_sift", out, n, entry_bytes=esize, entries=size)


def lockstep_regions(n: int, rng: np.random.Generator) -> Trace:
    """A fused loop over 2-6 arrays, each its own mapping (numpy arrays of 1-, 2-, 4- or 8-byte
    elements, the same length): ``a[i] = ..; b[i] = ..`` for i over the first 50-100% of them.
    Region k gets a new page every 4096 / esize_k iterations. Shape: one sequential stream per
    region, the streams in lockstep at rates in proportion to their element sizes (1 : 2 :
    4 : 8), in a fixed order inside an iteration.
    Expected: guarded and shield64 gain most of it (0.72-0.82 under seed_table1), best fixed
    k 64 ~0.69-0.72 (a window past the slice's end is wasted); readahead near best k; safe;
    within 1.10 x best k."""
    k = int(rng.integers(2, 7))
    es = rng.choice([1, 2, 4, 8], size=k)
    length = max(4096, n * 4096 // int(es.sum()))
    sizes = (length * es + 4095) // 4096
    stop = int(length * rng.uniform(0.5, 1.0))
    ends = np.cumsum(sizes) - sizes
    i = np.arange(stop)
    pages = ends[None, :] + (i[:, None] * es[None, :]) // 4096
    return _trace2("lockstep_regions", pages.reshape(-1), int(sizes.sum()),
                   region_sizes=sizes, esizes=es.tolist())


def wal_checkpoint(n: int, rng: np.random.Generator) -> Trace:
    """An in-memory database with a write-ahead log (SQLite-like), two mappings: the WAL
    (a quarter of ``n``: frames of 4096 + 24 bytes appended, so a frame spans two pages) and
    the database (the rest). Each transaction logs 1-8 database pages (Zipf-hot or uniform);
    when the WAL is full, a checkpoint writes the latest frame of every logged page into the
    database in ascending page order and the WAL restarts (its pages already private); 1-4
    laps. Shape: region 1 one sequential sweep (the first lap), region 2 ascending sparse
    sweeps (the pages logged since the last checkpoint, hot ones already private).
    Expected: guarded and shield64 gain on the WAL's lap, nothing on the sweeps (0.80-0.95);
    best fixed k 64 on the WAL only, so per trace best k 1-64; waste small; safe."""
    w = max(8, n // 4)
    d = max(8, n - w)
    frames = w * 4096 // (4096 + 24)
    hot = rng.random() < 0.5
    laps = int(rng.integers(1, 5))
    perm = rng.permutation(d)
    out: list[np.ndarray] = []
    for _ in range(laps):
        f, logged = 0, []
        first = not out
        while f < frames:
            m = int(rng.integers(1, 9))
            if hot:
                pg = perm[np.minimum(rng.zipf(1.3, size=m) - 1, d - 1)]
            else:
                pg = rng.integers(0, d, size=m)
            for _p in pg:
                if f >= frames:
                    break
                if first:
                    b = f * (4096 + 24)
                    out.append(np.arange(b // 4096, (b + 4096 + 24 - 1) // 4096 + 1))
                f += 1
            logged.extend(pg.tolist())
        out.append(w + np.unique(logged))
    return _trace2("wal_checkpoint", np.concatenate(out), w + d, region_sizes=np.array([w, d]),
                   laps=laps)


def fiber_stacks(n: int, rng: np.random.Generator) -> Trace:
    """A fiber / coroutine server (green threads with mmap-ed stacks, 16-256 of them, 16-64
    pages each, one region each) after the fork: fibers resumed in random order, each resume
    writing its active frames from the stack's top down to a depth of 1 + geometric pages
    (mean 1-8, fiber-specific), 2-6 resumes per fiber. Shape: many regions, in each a
    descending run from its top page, deepened by later resumes.
    Expected: no gain for a forward window (the pages above a fault are private or past the
    region's end): best fixed k 0, oracle 0.80-0.90; guarded, shield64 and readahead 1.00
    (<= 1.01: nothing should open); safe."""
    f = int(rng.integers(16, 257))
    s = int(rng.choice([16, 32, 64]))
    mean = rng.uniform(1, 8, size=f)
    order = rng.permutation(np.repeat(np.arange(f), int(rng.integers(2, 7))))
    out: list[np.ndarray] = []
    for fb in order:
        dep = min(s, int(rng.geometric(1 / mean[fb])))
        out.append(fb * s + s - 1 - np.arange(dep))
    return _trace2("fiber_stacks", np.concatenate(out), f * s, region_sizes=np.full(f, s))


def block_allocator(n: int, rng: np.random.Generator) -> Trace:
    """A block allocator (a file system's or a database's in memory), two mappings: 64-byte
    block descriptors (one page per 64 blocks) and the data blocks (``n`` pages), fragmented at
    the fork (used and free runs of geometric lengths, means 2-16 and 2-32 blocks). Next-fit
    allocation from a rotor: each allocated block is written (its page) and so is its
    descriptor; 20% of the operations free a random used block (its descriptor written only).
    Shape: the data region ascending with holes (the used runs), the descriptor region
    ascending slowly (a page per 64 blocks) among random descriptor writes.
    Expected: guarded and shield64 0.85-0.97 (windows pay across long free runs, a window
    over a used run is wasted); best fixed k 1-16, 0.75-0.90; readahead near best k, above
    1.0 where free runs are short; safe; waste a few % of the copies."""
    mu, mf = float(rng.uniform(2, 16)), float(rng.uniform(2, 32))
    used = np.zeros(n, dtype=bool)
    j, state = 0, bool(rng.random() < 0.5)
    while j < n:
        ln = int(rng.geometric(1 / (mu if state else mf)))
        used[j:j + ln] = state
        j += ln
        state = not state
    desc = (n + 63) // 64
    free = np.flatnonzero(~used)
    taken = free[: int(free.size * rng.uniform(0.5, 1.0))]
    out: list[int] = []
    for b in taken:
        out.extend([desc + int(b), int(b) // 64])
        if rng.random() < 0.2:
            out.append(int(rng.integers(desc)))
    if not out:
        out.append(0)
    return _trace2("block_allocator", out, desc + n, region_sizes=np.array([desc, n]))


def box_update_3d(n: int, rng: np.random.Generator) -> Trace:
    """A slice assignment into a C-ordered 3-D array (``x[z0:z1, y0:y1, x0:x1] = v``: a
    volume's region of interest, a 3-D halo block): rows of 0.25-4 pages (not page
    multiples), planes of 8-64 rows, the box 20-90% of each extent, written plane by plane,
    row by row. Shape: runs of the row segment's pages at a stride of one row (rows shorter
    than a page merge into longer runs with partial pages), a plane's runs then a jump of a
    plane to the next one's: a three-level nested stride.
    Expected: best fixed k 1-64 (by how much of a row the box covers), 0.72-0.95; guarded and
    shield64 0.80-1.00 (strided windows help when the row segment is under a page; a window at
    a segment's end is wasted when the box is narrow); readahead near best k; safe."""
    rb = int(rng.uniform(0.25, 4.0) * 64) * 64
    if rb % 4096 == 0:
        rb += 64
    ny = int(rng.integers(8, 65))
    nx = rb // 8
    nz = max(1, n * 4096 // (rb * ny))

    def span(m: int) -> tuple[int, int]:
        ln = max(1, int(m * rng.uniform(0.2, 0.9)))
        lo = int(rng.integers(0, m - ln + 1))
        return lo, lo + ln

    (z0, z1), (y0, y1), (x0, x1) = span(nz), span(ny), span(nx)
    out: list[np.ndarray] = []
    for z in range(z0, z1):
        for y in range(y0, y1):
            b = (z * ny + y) * rb
            out.append(np.arange((b + x0 * 8) // 4096, (b + x1 * 8 - 1) // 4096 + 1))
    n_pages = (nz * ny * rb + 4095) // 4096
    return _trace2("box_update_3d", np.concatenate(out), n_pages, row_bytes=rb, plane_rows=ny,
                   box=[[z0, z1], [y0, y1], [x0, x1]])


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


BUILDERS_2: dict[str, Callable[[int, np.random.Generator], Trace]] = {
    f.__name__: f for f in (zorder_rows, mmap_buffers, row_swaps, heap_sift, lockstep_regions,
                            wal_checkpoint, fiber_stacks, block_allocator, box_update_3d,
                            segment_tree)}
"""Round 2's patterns (session 39). Regions: about ``n`` pages (the array's own size in it for
``zorder_rows``, ``row_swaps``, ``box_update_3d``; the largest power of two in it for
``segment_tree``); several regions for ``mmap_buffers`` (16-1024 pages each),
``lockstep_regions`` (2-6), ``wal_checkpoint`` and ``block_allocator`` (2), ``fiber_stacks``
(16-256 regions of 16-64 pages, ignoring ``n``)."""


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


def save(traces: Sequence[Trace], out: Path) -> list[Path]:
    """Each trace as ``out/<name>.npz`` (pages, regions and meta: what ``eval.py traces=[...]``
    loads back); the paths, printed one a line."""
    from cowrl.traces.io import save_trace

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--save: {out} is a file, not a directory")
    paths = [save_trace(t, out / f"{t.name}.npz") for t in traces]
    for t, p in zip(traces, paths, strict=True):
        regions = 1 if t.region_sizes is None else len(t.region_sizes)
        print(f"{p}  pages {t.n_pages}  writes {t.writes}  regions {regions}")
    return paths


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


def audit(argv: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The command line's run: the rows per cost model (printed as tables)."""
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
    ap.add_argument("--save", type=Path, default=None,
                    help="write the traces as DIR/<name>.npz and stop (nothing measured)")
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
    if args.save is not None:
        save(traces, args.save)
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for cm in args.costmodels.split(","):
        out[cm] = run(cm, traces, args.bandit, progress=not args.no_progress,
                      variants=variants)
        print(report(cm, out[cm]), flush=True)
        print()
    if args.json is not None:
        args.json.write_text(json.dumps(out, default=float, indent=1))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """:func:`audit`, exit status 0 (its rows are for the tests, not a status)."""
    audit(argv)
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
