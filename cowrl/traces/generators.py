"""Synthetic write-trace generators. Each is seeded and sized by parameters.

Every generator returns a :class:`~cowrl.traces.io.Trace` over ``n_pages``
pages with ``writes`` writes (``sparse`` writes fewer distinct pages). They are
built from configs in ``conf/workload/`` with ``hydra.utils.instantiate``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from cowrl.errors import ConfigError
from cowrl.traces.io import MAX_PAGES, Trace


def _check(name: str, optional: tuple[str, ...] = ("writes",), **fields: Any) -> None:
    """Every field must be a positive integer (``optional`` ones may also be None)."""
    for key, value in fields.items():
        if value is None and key in optional:
            continue
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or int(value) != value or value <= 0):
            raise ConfigError(f"workload {name}: {key} must be a positive integer, got {value!r}")
        if key == "n_pages" and value > MAX_PAGES:  # before any array of that size is made
            raise ConfigError(f"workload {name}: n_pages {int(value)} is over the limit of "
                              f"{MAX_PAGES} pages (1 TiB of 4 KiB pages)")


def _trace(name: str, pages: np.ndarray, n_pages: int, **params: Any) -> Trace:
    return Trace(pages=pages.astype(np.int64), n_pages=n_pages, name=name,
                 meta={"generator": name, **params})


def _writes(n_pages: int, writes: int | None) -> int:
    return n_pages if writes is None else int(writes)


def sequential(n_pages: int = 4096, writes: int | None = None, start: int = 0, seed: int = 0,
               name: str = "seq") -> Trace:
    """Write pages ``start, start+1, ...`` wrapping at the region end (e.g. a memset or a log)."""
    _check(name, n_pages=n_pages, writes=writes)
    w = _writes(n_pages, writes)
    return _trace(name, (start + np.arange(w)) % n_pages, n_pages, start=start)


def reverse(n_pages: int = 4096, writes: int | None = None, seed: int = 0,
            name: str = "reverse") -> Trace:
    """Write pages from the region end down to 0 (a stack growing down; precopy looks forward)."""
    _check(name, n_pages=n_pages, writes=writes)
    w = _writes(n_pages, writes)
    return _trace(name, (n_pages - 1 - np.arange(w)) % n_pages, n_pages)


def stride(n_pages: int = 4096, writes: int | None = None, stride: int = 4, seed: int = 0,
           name: str = "stride") -> Trace:
    """Write every ``stride``-th page, then the next offset, ... (a column-major sweep)."""
    _check(name, n_pages=n_pages, writes=writes, stride=stride)
    order = np.concatenate([np.arange(o, n_pages, stride) for o in range(stride)])
    w = _writes(n_pages, writes)
    return _trace(name, order[np.arange(w) % n_pages], n_pages, stride=stride)


def uniform(n_pages: int = 4096, writes: int | None = None, seed: int = 0,
            name: str = "random") -> Trace:
    """Independent uniform page writes (a hash table)."""
    _check(name, n_pages=n_pages, writes=writes)
    rng = np.random.default_rng(seed)
    return _trace(name, rng.integers(0, n_pages, size=_writes(n_pages, writes)), n_pages,
                  seed=seed)


def zipf(n_pages: int = 4096, writes: int | None = None, alpha: float = 1.2, seed: int = 0,
         name: str = "zipf") -> Trace:
    """A Zipf(``alpha``) hot set scattered over the region (a key-value store's hot keys)."""
    _check(name, n_pages=n_pages, writes=writes)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ConfigError(f"workload {name}: alpha must be > 0, got {alpha!r}")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_pages + 1, dtype=np.float64)
    p = ranks ** -alpha
    p /= p.sum()
    perm = rng.permutation(n_pages)
    draws = rng.choice(n_pages, size=_writes(n_pages, writes), p=p)
    return _trace(name, perm[draws], n_pages, alpha=alpha, seed=seed)


def interleaved(n_pages: int = 4096, writes: int | None = None, streams: int = 4, seed: int = 0,
                name: str = "interleaved") -> Trace:
    """``streams`` sequential writers over disjoint slices, interleaved at random."""
    _check(name, n_pages=n_pages, writes=writes, streams=streams)
    rng = np.random.default_rng(seed)
    w = _writes(n_pages, writes)
    size = n_pages // streams
    if size == 0:
        raise ConfigError(f"workload {name}: streams={streams} exceeds n_pages={n_pages}")
    which = rng.integers(0, streams, size=w)
    pos = np.zeros(w, dtype=np.int64)
    for s in range(streams):
        idx = np.flatnonzero(which == s)
        pos[idx] = np.arange(idx.size) % size
    return _trace(name, which * size + pos, n_pages, streams=streams, seed=seed)


def phased(n_pages: int = 4096, writes: int | None = None, phase_writes: int = 512,
           seed: int = 0, name: str = "phased") -> Trace:
    """Alternating phases: a sequential run, then uniform random writes, and so on."""
    _check(name, n_pages=n_pages, writes=writes, phase_writes=phase_writes)
    rng = np.random.default_rng(seed)
    w = _writes(n_pages, writes)
    out = np.empty(w, dtype=np.int64)
    cursor = int(rng.integers(0, n_pages))
    for i, lo in enumerate(range(0, w, phase_writes)):
        hi = min(lo + phase_writes, w)
        if i % 2 == 0:
            out[lo:hi] = (cursor + np.arange(hi - lo)) % n_pages
            cursor = (cursor + hi - lo) % n_pages
        else:
            out[lo:hi] = rng.integers(0, n_pages, size=hi - lo)
    return _trace(name, out, n_pages, phase_writes=phase_writes, seed=seed)


def sparse(n_pages: int = 4096, touched: int = 64, writes: int | None = None, seed: int = 0,
           name: str = "sparse") -> Trace:
    """Only ``touched`` scattered pages are written (a process that execs soon after fork)."""
    _check(name, n_pages=n_pages, touched=touched, writes=writes)
    if touched > n_pages:
        raise ConfigError(f"workload {name}: touched={touched} exceeds n_pages={n_pages}")
    rng = np.random.default_rng(seed)
    hot = rng.choice(n_pages, size=touched, replace=False)
    w = touched if writes is None else int(writes)
    return _trace(name, hot[rng.integers(0, touched, size=w)] if writes else hot, n_pages,
                  touched=touched, seed=seed)


GENERATORS = {f.__name__: f for f in (sequential, reverse, stride, uniform, zipf, interleaved,
                                      phased, sparse)}


# --- Families for a wide training distribution (domain randomization) -------------------------
# Each family below draws its structure from ``seed``; ``sample_params`` draws its parameters.
# ``randomized`` draws a family and its parameters from one seed, so that training sees a fresh
# trace per episode and a protocol can leave a family out by name.


def _clip_pages(pages: np.ndarray, n_pages: int, writes: int | None) -> np.ndarray:
    """Exactly ``writes`` entries (the pattern cut, or repeated from its start, as the other
    generators wrap); all of them when None; never empty."""
    pages = np.asarray(pages, dtype=np.int64)
    if pages.size == 0:
        pages = np.zeros(1, dtype=np.int64)
    if writes is not None:
        pages = np.resize(pages, int(writes))
    return pages % n_pages


def block_stride(n_pages: int = 4096, block: int = 3, gap: int = 3, passes: int = 1,
                 writes: int | None = None, seed: int = 0, name: str = "block_stride") -> Trace:
    """Runs of ``block`` pages separated by gaps of ``gap`` pages, swept forward (a compacting
    GC, an array of structs whose hot fields span ``block`` pages). ``passes > 1`` revisits the
    region shifted by one block each pass, so later passes fill the gaps (a blocked sweep)."""
    _check(name, n_pages=n_pages, block=block, gap=gap, passes=passes, writes=writes)
    period = block + gap
    starts = np.arange(0, n_pages, period)
    runs = []
    for ps in range(passes):
        off = (ps * block) % period
        s = starts + off
        runs.append((s[:, None] + np.arange(block)[None, :]).reshape(-1))
    pages = np.concatenate(runs)
    pages = pages[pages < n_pages]
    return _trace(name, _clip_pages(pages, n_pages, writes), n_pages, block=block, gap=gap,
                  passes=passes)


def long_stride(n_pages: int = 4096, stride: int = 64, columns: int = 1,
                writes: int | None = None, seed: int = 0, name: str = "long_stride") -> Trace:
    """A column sweep with a long stride (a 2-D array walked column by column, one row =
    ``stride`` pages): ``columns`` adjacent columns are swept in turn; ``columns == stride``
    writes the whole region in the end."""
    _check(name, n_pages=n_pages, stride=stride, columns=columns, writes=writes)
    if columns > stride:
        raise ConfigError(f"workload {name}: columns={columns} exceeds stride={stride}")
    pages = np.concatenate([np.arange(c, n_pages, stride) for c in range(columns)])
    return _trace(name, _clip_pages(pages, n_pages, writes), n_pages, stride=stride,
                  columns=columns)


def short_runs(n_pages: int = 4096, writes: int | None = None, run_min: int = 1,
               run_max: int = 8, seed: int = 0, name: str = "short_runs") -> Trace:
    """Short sequential runs (``run_min..run_max`` pages) at random places (B-tree node
    updates, slab refills): locality too short for a large window to pay."""
    _check(name, n_pages=n_pages, writes=writes, run_min=run_min, run_max=run_max)
    if run_min > run_max:
        raise ConfigError(f"workload {name}: run_min={run_min} exceeds run_max={run_max}")
    rng = np.random.default_rng(seed)
    w = _writes(n_pages, writes)
    out: list[np.ndarray] = []
    total = 0
    while total < w:
        n = int(rng.integers(run_min, run_max + 1))
        s = int(rng.integers(0, n_pages))
        out.append(s + np.arange(n))
        total += n
    return _trace(name, _clip_pages(np.concatenate(out), n_pages, w), n_pages,
                  run_min=run_min, run_max=run_max, seed=seed)


def multi_stream(n_pages: int = 4096, writes: int | None = None, streams: int = 3,
                 max_stride: int = 1, seed: int = 0, name: str = "multi_stream") -> Trace:
    """``streams`` writers over disjoint slices at different rates (drawn weights), each
    sequential or, with ``max_stride > 1``, strided by its own 1..max_stride."""
    _check(name, n_pages=n_pages, writes=writes, streams=streams, max_stride=max_stride)
    size = n_pages // streams
    if size == 0:
        raise ConfigError(f"workload {name}: streams={streams} exceeds n_pages={n_pages}")
    rng = np.random.default_rng(seed)
    w = _writes(n_pages, writes)
    rates = rng.dirichlet(np.ones(streams))
    strides = rng.integers(1, max_stride + 1, size=streams)
    which = rng.choice(streams, size=w, p=rates)
    pos = np.zeros(w, dtype=np.int64)
    for s in range(streams):
        idx = np.flatnonzero(which == s)
        pos[idx] = (np.arange(idx.size) * strides[s]) % size
    return _trace(name, which * size + pos, n_pages, streams=streams, max_stride=max_stride,
                  seed=seed)


def tiled2d(n_pages: int = 4096, row_pages: int = 64, tile_rows: int = 8, tile_cols: int = 8,
            writes: int | None = None, seed: int = 0, name: str = "tiled2d") -> Trace:
    """A 2-D array (rows of ``row_pages`` pages) traversed tile by tile (``tile_rows`` x
    ``tile_cols`` pages), row-major inside a tile and across tiles (blocked matrix code)."""
    _check(name, n_pages=n_pages, row_pages=row_pages, tile_rows=tile_rows, tile_cols=tile_cols,
           writes=writes)
    rows = max(1, n_pages // row_pages)
    out = []
    for r0 in range(0, rows, tile_rows):
        for c0 in range(0, row_pages, tile_cols):
            r = np.arange(r0, min(r0 + tile_rows, rows))
            c = np.arange(c0, min(c0 + tile_cols, row_pages))
            out.append((r[:, None] * row_pages + c[None, :]).reshape(-1))
    pages = np.concatenate(out)
    pages = pages[pages < n_pages]
    return _trace(name, _clip_pages(pages, n_pages, writes), n_pages, row_pages=row_pages,
                  tile_rows=tile_rows, tile_cols=tile_cols)


def reverse_blocks(n_pages: int = 4096, block: int = 16, descending_inside: bool = False,
                   writes: int | None = None, seed: int = 0,
                   name: str = "reverse_blocks") -> Trace:
    """Blocks of ``block`` pages from the region end down, each written ascending (a
    downward-growing heap of forward-filled chunks) or, optionally, descending."""
    _check(name, n_pages=n_pages, block=block, writes=writes)
    starts = np.arange(0, n_pages, block)[::-1]
    inside = np.arange(block)[::-1] if descending_inside else np.arange(block)
    pages = (starts[:, None] + inside[None, :]).reshape(-1)
    pages = pages[pages < n_pages]
    return _trace(name, _clip_pages(pages, n_pages, writes), n_pages, block=block,
                  descending_inside=bool(descending_inside))


def dense_chunks(n_pages: int = 4096, chunk: int = 64, coverage: float = 1.0,
                 writes: int | None = None, seed: int = 0, name: str = "dense_chunks") -> Trace:
    """Chunks of ``chunk`` pages taken in random order, each written in random order until
    ``coverage`` of it is written (object arenas, hash buckets filled densely)."""
    _check(name, n_pages=n_pages, chunk=chunk, writes=writes)
    if not 0 < coverage <= 1:
        raise ConfigError(f"workload {name}: coverage must be in (0, 1], got {coverage!r}")
    rng = np.random.default_rng(seed)
    out = []
    for s in rng.permutation(np.arange(0, n_pages, chunk)):
        size = min(chunk, n_pages - s)
        m = max(1, int(round(coverage * size)))
        out.append(s + rng.permutation(size)[:m])
    return _trace(name, _clip_pages(np.concatenate(out), n_pages, writes), n_pages, chunk=chunk,
                  coverage=coverage, seed=seed)


def alloc_pool(n_pages: int = 4096, sizes: tuple[int, ...] = (2,), density: float = 1.0,
               whole: float = 1.0, streams: int = 1, shuffle: float = 0.0,
               writes: int | None = None, seed: int = 0, name: str = "alloc_pool") -> Trace:
    """Allocator pools: each 64-page aligned block is cut into aligned groups of ``2**j``
    pages (``j`` drawn per block from ``sizes``, 1..6; pymalloc pools are 4 pages, slabs,
    arenas, runs and spans other powers of two); a ``density`` share of the groups is taken,
    in random order over the region, each written whole (with probability ``whole``) or a
    first part of it, its pages in ascending order (in random order with probability
    ``shuffle``); ``streams`` groups are filled at once, their writes interleaved at random.
    The page index is the virtual page number (one region at address 0): groups are aligned
    as allocators align them."""
    _check(name, n_pages=n_pages, streams=streams, writes=writes)
    js = [int(j) for j in (sizes if not isinstance(sizes, numbers.Integral) else (sizes,))]
    if not js or any(not 1 <= j <= 6 for j in js):
        raise ConfigError(f"workload {name}: sizes must be log2 group sizes in 1..6, "
                          f"got {sizes!r}")
    for field, v in (("density", density), ("whole", whole)):
        if not 0 < v <= 1:
            raise ConfigError(f"workload {name}: {field} must be in (0, 1], got {v!r}")
    if not 0 <= shuffle <= 1:
        raise ConfigError(f"workload {name}: shuffle must be in [0, 1], got {shuffle!r}")
    rng = np.random.default_rng(seed)
    starts, lens = [], []
    for b in range(0, n_pages, 64):
        g = 1 << js[int(rng.integers(len(js)))]
        for s0 in range(b, min(b + 64, n_pages), g):
            starts.append(s0)
            lens.append(min(g, n_pages - s0))
    taken = np.nonzero(rng.random(len(starts)) < density)[0]
    if taken.size == 0:
        taken = np.array([int(rng.integers(len(starts)))])
    taken = rng.permutation(taken)
    per_stream: list[list[np.ndarray]] = [[] for _ in range(streams)]
    for i, gi in enumerate(taken):
        size = lens[gi]
        m = size if rng.random() < whole else int(rng.integers(1, size + 1))
        inside = rng.permutation(size)[:m] if rng.random() < shuffle else np.arange(m)
        per_stream[i % streams].append(starts[gi] + inside)
    segs = [np.concatenate(x) if x else np.zeros(0, dtype=np.int64) for x in per_stream]
    order = np.concatenate([np.full(x.size, i) for i, x in enumerate(segs)])
    rng.shuffle(order)
    out = np.empty(order.size, dtype=np.int64)
    for i, x in enumerate(segs):
        out[order == i] = x
    return _trace(name, _clip_pages(out, n_pages, writes), n_pages, sizes=js,
                  density=density, whole=whole, streams=streams, shuffle=shuffle, seed=seed)


def _segment(family: str, rng: np.random.Generator, n_pages: int) -> Trace:
    params = sample_params(family, rng, n_pages=n_pages)
    return FAMILIES[family](**params)


def mixture(n_pages: int = 4096, parts: int = 2, families: tuple[str, ...] | None = None,
            writes: int | None = None, seed: int = 0, name: str = "mixture") -> Trace:
    """``parts`` drawn families over disjoint slices of the region, interleaved write by write
    at random (several tenants, each with its own pattern)."""
    _check(name, n_pages=n_pages, parts=parts, writes=writes)
    rng = np.random.default_rng(seed)
    pool = list(families or BASE_FAMILIES)
    size = n_pages // parts
    if size < 16:
        raise ConfigError(f"workload {name}: parts={parts} leaves slices under 16 pages")
    segs = [_segment(str(rng.choice(pool)), rng, size) for _ in range(parts)]
    order = np.concatenate([np.full(s.writes, i) for i, s in enumerate(segs)])
    rng.shuffle(order)
    out = np.empty(order.size, dtype=np.int64)
    for i, s in enumerate(segs):
        out[order == i] = s.pages + i * size
    return _trace(name, _clip_pages(out, n_pages, writes), n_pages, parts=parts,
                  kinds=[s.name for s in segs], seed=seed)


def phases(n_pages: int = 4096, parts: int = 3, families: tuple[str, ...] | None = None,
           writes: int | None = None, seed: int = 0, name: str = "phases") -> Trace:
    """``parts`` drawn families one after the other over the same region (phase changes)."""
    _check(name, n_pages=n_pages, parts=parts, writes=writes)
    rng = np.random.default_rng(seed)
    pool = list(families or BASE_FAMILIES)
    segs = [_segment(str(rng.choice(pool)), rng, n_pages) for _ in range(parts)]
    pages = np.concatenate([s.pages[: max(1, s.writes // parts + 1)] for s in segs])
    return _trace(name, _clip_pages(pages, n_pages, writes), n_pages, parts=parts,
                  kinds=[s.name for s in segs], seed=seed)


def _log_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """An integer drawn log-uniformly in ``lo..hi``."""
    return int(min(hi, max(lo, round(float(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))))))


def sample_params(family: str, rng: np.random.Generator, n_pages: int | None = None
                  ) -> dict[str, Any]:
    """Random parameters of ``family`` (region size log-uniform in 512..16384 unless given)."""
    if family not in FAMILIES:
        raise ConfigError(f"family: unknown family {family!r} (families: {', '.join(FAMILIES)})")
    n = int(n_pages) if n_pages is not None else _log_int(rng, 512, 16384)
    seed = int(rng.integers(2**31 - 1))
    p: dict[str, Any] = {"n_pages": n, "seed": seed}
    if family == "seq":
        frac = float(rng.uniform(0.1, 1.0))
        p.update(writes=max(1, int(frac * n)), start=int(rng.integers(0, n)))
    elif family == "reverse":
        p.update(writes=max(1, int(rng.uniform(0.1, 1.0) * n)))
    elif family == "stride":
        p.update(stride=_log_int(rng, 2, 32))
    elif family == "random":
        p.update(writes=max(1, int(rng.uniform(0.1, 2.0) * n)))
    elif family == "zipf":
        p.update(writes=max(1, int(rng.uniform(0.5, 4.0) * n)), alpha=float(rng.uniform(0.6, 1.6)))
    elif family == "interleaved":
        p.update(streams=min(n // 16, _log_int(rng, 2, 12)))
    elif family == "sparse":
        p.update(touched=min(n, _log_int(rng, 8, max(8, n // 16))))
    elif family == "block_stride":
        p.update(block=_log_int(rng, 1, 16), gap=_log_int(rng, 1, 48),
                 passes=1 if rng.random() < 0.7 else 2)
    elif family == "long_stride":
        s = _log_int(rng, 17, min(512, max(17, n // 4)))
        p.update(stride=s, columns=s if rng.random() < 0.5 else _log_int(rng, 1, max(1, s // 4)))
    elif family == "short_runs":
        lo = _log_int(rng, 1, 8)
        p.update(run_min=lo, run_max=lo + _log_int(rng, 1, 24) - 1,
                 writes=max(1, int(rng.uniform(0.2, 1.5) * n)))
    elif family == "multi_stream":
        p.update(streams=min(n // 16, _log_int(rng, 2, 8)),
                 max_stride=1 if rng.random() < 0.6 else _log_int(rng, 2, 8))
    elif family == "tiled2d":
        row = _log_int(rng, 8, min(256, max(8, n // 8)))
        p.update(row_pages=row, tile_rows=_log_int(rng, 1, 16), tile_cols=_log_int(rng, 1, row))
    elif family == "reverse_blocks":
        p.update(block=_log_int(rng, 2, 128), descending_inside=bool(rng.random() < 0.3))
    elif family == "dense_chunks":
        p.update(chunk=_log_int(rng, 4, 512),
                 coverage=1.0 if rng.random() < 0.5 else float(rng.uniform(0.3, 1.0)))
    elif family in ("mixture", "phases"):
        p.update(parts=int(rng.integers(2, 5)))
    elif family == "alloc_pool":
        js = rng.integers(1, 7, size=int(rng.integers(1, 3)))
        p.update(sizes=tuple(sorted({int(j) for j in js})), density=float(rng.uniform(0.2, 1.0)),
                 whole=float(rng.uniform(0.5, 1.0)), streams=_log_int(rng, 1, 8),
                 shuffle=0.0 if rng.random() < 0.7 else float(rng.uniform(0.0, 1.0)))
    return p


FAMILIES = {
    "seq": sequential, "reverse": reverse, "stride": stride, "random": uniform, "zipf": zipf,
    "interleaved": interleaved, "sparse": sparse, "block_stride": block_stride,
    "long_stride": long_stride, "short_runs": short_runs, "multi_stream": multi_stream,
    "tiled2d": tiled2d, "reverse_blocks": reverse_blocks, "dense_chunks": dense_chunks,
    "mixture": mixture, "phases": phases,
    "alloc_pool": alloc_pool,
}
"""Every family the randomized distribution draws from, by the name a protocol leaves out.
Families added later are appended (:data:`LEGACY_FAMILIES`)."""

LEGACY_FAMILIES = ("seq", "reverse", "stride", "random", "zipf", "interleaved", "sparse",
                   "block_stride", "long_stride", "short_runs", "multi_stream", "tiled2d",
                   "reverse_blocks", "dense_chunks", "mixture", "phases")
"""The 16 families before ``alloc_pool``: :func:`randomized` still draws them, with the same
parameters, wherever it does not draw a later family (their draws stay comparable)."""

BASE_FAMILIES = tuple(f for f in LEGACY_FAMILIES if f not in ("mixture", "phases"))
"""Families that ``mixture`` and ``phases`` compose (the legacy ones: their draws stay
unchanged)."""


def _family_list(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # "seq,stride": the form a list-as-choices config cannot mangle
        names = tuple(v.strip() for v in value.split(",") if v.strip())
    else:
        names = tuple(str(v) for v in value)
    bad = [f for f in names if f not in FAMILIES]
    if bad:
        raise ConfigError(f"{field}: unknown family {bad[0]!r} (families: {', '.join(FAMILIES)})")
    return names


def randomized(seed: int = 0, draw: int = 0, families: Any = None, exclude: Any = None,
               n_pages: int | None = None, writes: int | None = None,
               name: str | None = None) -> Trace:
    """One trace of a family drawn at random (from ``families``, default all, minus
    ``exclude``), with random parameters, all from ``(seed, draw)``.

    A left-out family is also kept out of the parts of ``mixture`` and ``phases``. The
    trace is named ``name`` (default ``rand<draw>``); ``meta`` records the family and its
    parameters. ``families``/``exclude`` take a list or a comma-separated string; ``writes``
    cuts or repeats the drawn trace to that length.
    """
    pool = _family_list(families, "families") or tuple(FAMILIES)
    out = set(_family_list(exclude, "exclude"))
    pool = tuple(f for f in pool if f not in out)
    if not pool:
        raise ConfigError("exclude: every family is left out; nothing to draw")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(draw)])
    # A later family is drawn with its share of the pool from a stream of its own; otherwise
    # the legacy families are drawn from the same stream as before it existed (same draws).
    old = tuple(f for f in pool if f in LEGACY_FAMILIES)
    new = tuple(f for f in pool if f not in LEGACY_FAMILIES)
    pick = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(draw), 1])
    if new and (not old or pick.random() < len(new) / len(pool)):
        family = str(new[int(pick.integers(len(new)))])
    else:
        family = str(old[int(rng.integers(len(old)))])
    params = sample_params(family, rng, n_pages=n_pages)
    if family in ("mixture", "phases"):
        params["families"] = tuple(f for f in BASE_FAMILIES if f not in out) or BASE_FAMILIES
    t = FAMILIES[family](**params)
    meta = {**t.meta, "family": family, "draw": int(draw), "sampler_seed": int(seed)}
    pages = t.pages if writes is None else _clip_pages(t.pages, t.n_pages, int(writes))
    return Trace(pages=pages, n_pages=t.n_pages, name=name or f"rand{draw}", meta=meta)


def family_trace(family: str, seed: int = 0, n_pages: int | None = None,
                 name: str | None = None) -> Trace:
    """One trace of ``family`` with random parameters from ``seed`` (a held-out test draw)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5EED])
    params = sample_params(family, rng, n_pages=n_pages)
    t = FAMILIES[family](**params)
    return Trace(pages=t.pages, n_pages=t.n_pages, name=name or f"{family}_{seed}",
                 meta={**t.meta, "family": family})


FORK_START = 0x7F0000000000
"""``forked_workers``: the address of every process's copy of the buffer (page aligned, 0 mod
512), as a fork's children hold their copies of the parent's buffer."""


def _ordered(pool: np.ndarray, order: str, run_max: int, rng: np.random.Generator
             ) -> np.ndarray:
    """``pool`` (sorted pages) in write order: ``sequential`` ascending, ``runs`` chopped into
    ascending runs of 1..``run_max`` pages in a shuffled order of runs, ``random`` shuffled."""
    if order == "sequential" or pool.size < 2:
        return pool
    if order == "random":
        return rng.permutation(pool)
    cuts = np.cumsum(rng.integers(1, run_max + 1, size=pool.size))
    runs = np.split(pool, cuts[cuts < pool.size])
    return np.concatenate([runs[i] for i in rng.permutation(len(runs))])


def forked_workers(n_pages: int = 4096, children: int = 4, overlap: float = 0.9,
                   coverage: float = 0.5, order: str = "runs", run_max: int = 16,
                   chunk: int = 64, parent: float = 0.1, seed: int = 0,
                   name: str = "forked_workers") -> Trace:
    """A forked family writing its copies of one buffer of ``n_pages`` pages (a training and
    development family of several writers; not in :data:`FAMILIES`, whose draws it would
    change): the parent (writer 0) and ``children`` children (writers 1..), each process's
    copy a region of its own at one address (:data:`FORK_START`), as ``fork`` leaves them.

    ``coverage`` of the buffer (pages picked at random, in order) is split into ``children +
    2`` disjoint stretches of ``m`` pages, in a random order: a common pool, one shard per
    child and the parent's pool. Child ``i`` writes in requests of ``run_max`` positions:
    a request's writes ``j ..`` are the common pool's pages ``j ..`` with probability
    ``overlap`` (the same ``j`` for every child: workers repeating each other's writes, in the
    same order), else its shard's (its own work: siblings never repeat it). Each pool is
    written in ``order`` (``sequential``, ``runs`` of 1..``run_max`` ascending pages in a
    shuffled order, or ``random``). The parent
    writes ``parent * m`` pages of its own pool (the buffer's rest: different work). The
    processes write in turns of ``chunk`` writes, round robin, the parent first."""
    _check(name, n_pages=n_pages, children=children, run_max=run_max, chunk=chunk)
    for key, v in (("overlap", overlap), ("coverage", coverage), ("parent", parent)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v <= 1:
            raise ConfigError(f"workload {name}: {key} must be in [0, 1], got {v!r}")
    if order not in ("sequential", "runs", "random"):
        raise ConfigError(f"workload {name}: order must be sequential, runs or random, "
                          f"got {order!r}")
    rng = np.random.default_rng(seed)
    n, c = int(n_pages), int(children)
    m = int(coverage * n) // (c + 2)  # the common pool, c shards, the parent's pool
    if m < 1:
        raise ConfigError(f"workload {name}: coverage {coverage} of {n} pages leaves no page "
                          f"per pool for {c} children")
    picked = np.sort(rng.permutation(n)[:m * (c + 2)])
    slot = rng.permutation(c + 2)  # which pool takes which stretch of the picked pages
    pools = [picked[slot[i] * m:(slot[i] + 1) * m] for i in range(c + 2)]
    common = _ordered(pools[0], order, run_max, rng)
    own = [_ordered(pools[1 + i], order, run_max, rng) for i in range(c)]
    writes = [_ordered(pools[c + 1], order, run_max, rng)[:max(1, int(parent * m))]]
    for i in range(c):  # a request: run_max positions from one pool
        mine = np.repeat(rng.random(m // run_max + 1) < overlap, run_max)[:m]
        writes.append(np.where(mine, common, own[i]))
    writes = [w + r * n for r, w in enumerate(writes)]  # process r's copy: region r
    turns = [[w[j:j + chunk] for j in range(0, w.size, chunk)] for w in writes]
    pages = np.concatenate([x[t] for t in range(max(len(x) for x in turns))
                            for x in turns if t < len(x)])
    return Trace(pages=pages.astype(np.int64), n_pages=n * (c + 1), name=name,
                 region_sizes=np.full(c + 1, n, dtype=np.int64),
                 region_starts=np.full(c + 1, FORK_START, dtype=np.uint64),
                 region_writers=np.arange(c + 1, dtype=np.int32),
                 meta={"generator": "forked_workers", "n_pages": n, "children": c,
                       "overlap": float(overlap), "coverage": float(coverage), "order": order,
                       "run_max": int(run_max), "chunk": int(chunk), "parent": float(parent),
                       "seed": int(seed)})


MULTI_WRITER_FAMILIES = {"forked_workers": forked_workers}
"""Families of several writers (a forked family): not drawn by :func:`randomized` nor listed
in :data:`FAMILIES` (adding them there would change every protocol's draws) nor in
:data:`GENERATORS` (the envs' workload lists and their tests take every generator there as a
one-writer trace of ``writes`` writes); drawn by
:func:`multi_writer_draw` for the studies that need siblings
(docs/results/sibling-window-s35.md)."""


def multi_writer_draw(family: str, seed: int, name: str | None = None) -> Trace:
    """One trace of the multi-writer ``family`` with random parameters from ``seed``: the
    buffer 4096..32768 pages (log-uniform), 2..8 children, overlap uniform in [0, 1] (0: each
    child its own shard, siblings never repeat; 1: workers repeating each other), coverage
    0.3..1, order, runs of 1..64, turns of 16..512 writes, the parent's share 0..0.5."""
    if family not in MULTI_WRITER_FAMILIES:
        raise ConfigError(f"family: unknown multi-writer family {family!r} (families: "
                          f"{', '.join(MULTI_WRITER_FAMILIES)})")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xF0B])
    p = {"n_pages": _log_int(rng, 4096, 32768), "children": int(rng.integers(2, 9)),
         "overlap": float(rng.uniform(0.0, 1.0)), "coverage": float(rng.uniform(0.3, 1.0)),
         "order": str(rng.choice(["sequential", "runs", "random"])),
         "run_max": _log_int(rng, 1, 64), "chunk": _log_int(rng, 16, 512),
         "parent": float(rng.uniform(0.0, 0.5)), "seed": int(rng.integers(2**31 - 1))}
    t = MULTI_WRITER_FAMILIES[family](**p)
    return Trace(pages=t.pages, n_pages=t.n_pages, name=name or f"{family}_{seed}",
                 region_sizes=t.region_sizes, region_starts=t.region_starts,
                 region_writers=t.region_writers, meta={**t.meta, "family": family})


LOCKSTEP_START = 0x7F1000000000
"""``lockstep_arrays(layout="mmap")``: the address below which its arrays are mapped."""


def lockstep_arrays(pages: int = 1024, scales: tuple[int, ...] | list[int] = (1, 1),
                    coverage: float = 1.0, first: float = 0.0, layout: str = "packed",
                    seed: int = 0, name: str = "lockstep_arrays") -> Trace:
    """One loop writing several arrays in lockstep, each in a mapping of its own (a
    development shape, session 40; not in :data:`FAMILIES`, whose draws it would change): array
    ``i`` holds the same number of elements as the others at ``scales[i]`` times the smallest
    element size, so it spans ``pages * scales[i]`` pages (equal scales: arrays of equal
    size; else proportional) and its writer moves ``scales[i]`` times as fast. The loop runs
    over the fraction ``coverage`` of the elements from ``first`` (a fraction of them); each
    array's first write to each of its pages is one write, in element order (the arrays in
    their order at one element). ``layout``: ``packed``, regions laid end to end (virtual page
    = page index); ``mmap``, as a top-down allocator maps them (each a header page and its
    data, the next below it after a one-page gap, from :data:`LOCKSTEP_START`). ``seed`` is
    unused (the shape is deterministic) and kept for the draws' record."""
    _check(name, pages=pages)
    sc = [int(x) for x in scales]
    if not 2 <= len(sc) <= 16 or any(x < 1 or x > 64 for x in sc):
        raise ConfigError(f"workload {name}: scales must be 2..16 integers in 1..64, "
                          f"got {list(scales)!r}")
    for key, v in (("coverage", coverage), ("first", first)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v <= 1:
            raise ConfigError(f"workload {name}: {key} must be in [0, 1], got {v!r}")
    if layout not in ("packed", "mmap"):
        raise ConfigError(f"workload {name}: layout must be packed or mmap, got {layout!r}")
    m = int(pages)
    top = max(sc)
    head = 1 if layout == "mmap" else 0  # the allocator's header page
    sizes = np.array([m * x + head for x in sc], dtype=np.int64)
    begins = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    # elements counted in units of 1 / top of the narrowest array's page (``top`` the largest
    # scale): array i enters its page p at unit ceil(p * top / scales[i])
    lo = int(first * m * top)
    hi = min(m * top, lo + max(1, int(coverage * m * top)))
    ev_e, ev_i, ev_p = [], [], []
    for i, x in enumerate(sc):
        e = np.arange(m * x, dtype=np.int64)
        at = (e * top + x - 1) // x  # the first element (in units) on page e
        keep = (at >= lo) & (at < hi)
        first_page = (lo * x) // top  # the page the loop starts inside (its first write)
        ev_e.append(np.concatenate(([lo], at[keep & (e > first_page)])))
        ev_i.append(np.full(ev_e[-1].size, i))
        ev_p.append(np.concatenate(([first_page], e[keep & (e > first_page)])))
    e_all, i_all, p_all = (np.concatenate(a) for a in (ev_e, ev_i, ev_p))
    order = np.lexsort((i_all, e_all))
    pages_out = begins[i_all[order]] + head + p_all[order]
    starts = None
    if layout == "mmap":
        ends = LOCKSTEP_START - np.cumsum(np.concatenate(([0], sizes[:-1] + 1))) * 4096
        starts = (ends - sizes * 4096).astype(np.uint64)
    return Trace(pages=pages_out.astype(np.int64), n_pages=int(sizes.sum()), name=name,
                 region_sizes=sizes, region_starts=starts,
                 meta={"generator": "lockstep_arrays", "pages": m, "scales": sc,
                       "coverage": float(coverage), "first": float(first), "layout": layout,
                       "seed": int(seed)})


def lockstep_draw(seed: int, name: str | None = None) -> Trace:
    """A development draw of :func:`lockstep_arrays` (session 40; seeds 2000+ for tests,
    3000+ for training): 2..6 arrays of 200..4000 pages (log-uniform) for the smallest, equal
    sizes or proportional (scales 1, 2 or 4 each, the smallest 1), coverage 0.3..1 from a
    random first element, either layout."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x10C5])
    n = int(rng.integers(2, 7))
    if rng.random() < 0.5:
        scales = [1] * n
    else:
        scales = [1, *(int(x) for x in rng.choice([1, 2, 4], size=n - 1))]
        rng.shuffle(scales)
    cov = float(rng.uniform(0.3, 1.0))
    p = {"pages": _log_int(rng, 200, 4000), "scales": scales, "coverage": cov,
         "first": float(rng.uniform(0.0, 1.0 - cov)),
         "layout": str(rng.choice(["packed", "mmap"]))}
    t = lockstep_arrays(**p, seed=int(seed))
    return Trace(pages=t.pages, n_pages=t.n_pages, name=name or f"lockstep_{seed}",
                 region_sizes=t.region_sizes, region_starts=t.region_starts,
                 meta={**t.meta, "family": "lockstep_arrays"})


# ``randomized`` is listed so that the envs (PPO, DQN) can draw it per episode by name.
GENERATORS.update({f.__name__: f for f in (block_stride, long_stride, short_runs, multi_stream,
                                           tiled2d, reverse_blocks, dense_chunks, mixture,
                                           phases, alloc_pool, randomized)})
