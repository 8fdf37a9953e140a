"""Trace files.

A trace is a 1-D sequence of 0-based page indices (4 KiB pages) written in
that order by one process after ``fork()``. The region holds ``n_pages`` pages,
all shared (COW-pending) when the trace starts.

Accepted formats:

``.npy``
    A 1-D integer array. ``n_pages`` is ``max + 1``.
``.txt``
    One integer per line (blank lines and ``#`` comments ignored). ``n_pages`` is ``max + 1``.
``.npz`` (native)
    Arrays ``pages`` (1-D int64) and ``n_pages`` (0-d int) plus an optional
    ``meta`` (0-d unicode string holding JSON: generator name and parameters,
    or where the trace was recorded). ``n_pages`` may exceed ``max + 1``: a
    region larger than the pages written, which matters for waste and for
    precopy clipping at the region end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import TraceError


@dataclass(frozen=True)
class Trace:
    """A write trace over ``n_pages`` pages, in one region or several.

    Several regions (anonymous VMAs of a recorded program) are laid end to end
    in one page-index space: region ``i`` holds pages
    ``region_ends[i-1] .. region_ends[i] - 1`` (``region_sizes`` are their sizes,
    summing to ``n_pages``). Precopy clips at the end of the faulting page's
    region, as the kernel clips at a VMA's end. ``region_sizes=None`` is one
    region of ``n_pages``. ``t_ns`` (ns since the fork) and ``writer`` (0 the
    parent, ``i >= 1`` the i-th child) are optional, one entry per write.
    """

    pages: np.ndarray
    n_pages: int
    name: str = "trace"
    meta: dict[str, Any] = field(default_factory=dict)
    region_sizes: np.ndarray | None = None
    t_ns: np.ndarray | None = None
    writer: np.ndarray | None = None

    def __post_init__(self) -> None:
        pages = validate_pages(self.pages, where=self.name)
        object.__setattr__(self, "pages", pages)
        if int(self.n_pages) <= 0:
            raise TraceError(f"{self.name}: n_pages must be positive, got {self.n_pages}")
        if int(pages.max()) >= int(self.n_pages):
            raise TraceError(
                f"{self.name}: page index {int(pages.max())} is outside the region "
                f"of n_pages={self.n_pages}"
            )
        object.__setattr__(self, "n_pages", int(self.n_pages))
        if self.region_sizes is not None:
            sizes = np.asarray(self.region_sizes, dtype=np.int64).reshape(-1)
            if sizes.size == 0 or sizes.min() <= 0 or int(sizes.sum()) != self.n_pages:
                raise TraceError(f"{self.name}: region_sizes must be positive and sum to "
                                 f"n_pages={self.n_pages}")
            sizes.setflags(write=False)
            object.__setattr__(self, "region_sizes", sizes)
        for f in ("t_ns", "writer"):
            v = getattr(self, f)
            if v is not None and np.asarray(v).shape != self.pages.shape:
                raise TraceError(f"{self.name}: {f} must have one entry per write "
                                 f"({self.writes}), got shape {np.asarray(v).shape}")

    @property
    def writes(self) -> int:
        return int(self.pages.shape[0])

    @property
    def region_ends(self) -> np.ndarray:
        """Exclusive end page of each region, ascending (one region: ``[n_pages]``)."""
        if self.region_sizes is None:
            return np.array([self.n_pages], dtype=np.int64)
        return np.cumsum(self.region_sizes)

    def region_end_of(self, pages: np.ndarray) -> np.ndarray:
        """The exclusive end page of the region holding each of ``pages``."""
        ends = self.region_ends
        return ends[np.searchsorted(ends, pages, side="right")]


def validate_pages(arr: Any, where: str) -> np.ndarray:
    """Return ``arr`` as a read-only 1-D int64 array, or raise TraceError naming ``where``."""
    a = np.asarray(arr)
    if a.ndim != 1:
        raise TraceError(f"{where}: a trace must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise TraceError(f"{where}: the trace is empty")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.floor(a)):
            raise TraceError(f"{where}: the trace has non-integer entries")
    elif a.dtype.kind not in "iu":
        raise TraceError(f"{where}: the trace must hold integers, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=True)
    if a.min() < 0:
        i = int(np.argmax(a < 0))
        raise TraceError(f"{where}: negative page index {int(a[i])} at position {i}")
    a.setflags(write=False)
    return a


def _load_txt(path: Path) -> np.ndarray:
    vals: list[int] = []
    with path.open() as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                vals.append(int(line))
            except ValueError:
                raise TraceError(
                    f"{path}:{lineno}: expected one integer page index, got {line!r}"
                ) from None
    return np.asarray(vals, dtype=np.int64)


def load_trace(path: str | Path) -> Trace:
    """Load a trace from ``.npy``, ``.txt`` or ``.npz``; the name is the file stem."""
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"{p}: no such trace file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            pages = np.load(p, allow_pickle=False)
            n_pages = None
            meta: dict[str, Any] = {}
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "pages" not in z:
                    raise TraceError(f"{p}: .npz trace has no 'pages' array")
                pages = z["pages"]
                n_pages = None
                if "n_pages" in z:
                    n = z["n_pages"]
                    if n.ndim != 0 or n.dtype.kind not in "iu":
                        raise TraceError(f"{p}: n_pages must be a 0-d integer, got {n!r}")
                    n_pages = int(n)
                meta = json.loads(str(z["meta"])) if "meta" in z else {}
                if not isinstance(meta, dict):
                    raise TraceError(f"{p}: meta must be a JSON object")
        elif suffix in (".txt", ".csv", ""):
            pages = _load_txt(p)
            n_pages = None
            meta = {}
        else:
            raise TraceError(f"{p}: unknown trace format {suffix!r} (use .npy, .txt or .npz)")
    except TraceError:
        raise
    except (OSError, ValueError, json.JSONDecodeError) as e:
        raise TraceError(f"{p}: unreadable trace ({e})") from None
    pages = validate_pages(pages, where=str(p))
    if n_pages is None:
        n_pages = int(pages.max()) + 1
    meta = {**meta, "source": str(p)}
    try:
        return Trace(pages=pages, n_pages=n_pages, name=p.stem, meta=meta)
    except TraceError as e:  # name the file, not just its stem
        raise TraceError(f"{p}: {str(e).split(': ', 1)[-1]}") from None


def save_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` in the native ``.npz`` format (or ``.npy``/``.txt`` by suffix)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".npy":
        np.save(p, trace.pages)
    elif p.suffix == ".txt":
        np.savetxt(p, trace.pages, fmt="%d")
    else:
        np.savez(p, pages=trace.pages, n_pages=np.int64(trace.n_pages),
                 meta=np.str_(json.dumps(trace.meta)))
    return p
