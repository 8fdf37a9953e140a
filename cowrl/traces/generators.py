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
from cowrl.traces.io import Trace


def _check(name: str, optional: tuple[str, ...] = ("writes",), **fields: Any) -> None:
    """Every field must be a positive integer (``optional`` ones may also be None)."""
    for key, value in fields.items():
        if value is None and key in optional:
            continue
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or int(value) != value or value <= 0):
            raise ConfigError(f"workload {name}: {key} must be a positive integer, got {value!r}")


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
