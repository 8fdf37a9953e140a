"""Trace files.

A trace is a 1-D sequence of 0-based page indices (4 KiB pages) written in
that order after ``fork()``. The pages live in ``n_pages`` pages of one region
or of several regions laid end to end (see :class:`Trace`), all shared
(COW-pending) when the trace starts.

Accepted formats:

``.npy``
    A 1-D integer array: one region of ``max + 1`` pages.
``.txt`` (also ``.csv`` or no suffix, read the same way: no header line)
    One integer per line (blank lines and ``#`` comments ignored): one region of ``max + 1``.
``.npz`` (native; :func:`save_trace` writes it compressed)
    ``pages`` (1-D integers) and ``n_pages`` (0-d int), optional ``meta`` (0-d
    string holding a JSON object: generator and parameters, or a recording's
    provenance), and, for a recorded program, the optional multi-region fields:

    ``region_sizes``  (R,) pages of each region; they sum to ``n_pages``
    ``region_starts`` (R,) start address in bytes of each region (page aligned)
    ``region_writers`` (R,) the process whose view the region is: 0 the parent,
                      ``i >= 1`` the i-th child (a VMA written by two processes is
                      two regions, since each process faults on its own copy)
    ``t_ns``          (writes,) ns since the fork of each write (stored as
                      ``t_ns_delta``, its first differences, when nondecreasing)
    ``writer``        (writes,) writer role of each write (must match its region's)

    Regions of the same writer may not overlap in address space, and every
    page must fall inside a region of its own writer.

Page indices are 0-based and below :data:`MAX_PAGES` (1 TiB of pages), in every format.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import TraceError
from cowrl.paths import project_path

PAGE_SIZE = 4096
FORMAT_VERSION = 2
"""``meta["format"]`` of files written by :func:`save_trace` (1: single region only)."""
MULTI_FIELDS = ("region_sizes", "region_starts", "region_writers", "t_ns", "writer")
CHECK_CHUNK = 1 << 20
MAX_PAGES = 1 << 28
"""The largest region a trace may span: 2^28 pages of 4 KiB (1 TiB). Replay keeps a byte or
two of state per page (the kernel harness maps and fills them all), so a page index beyond it
is almost always a virtual page number or an address where a 0-based index was meant."""


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
    ``region_starts`` (byte addresses) and ``region_writers`` describe where
    each region was in the recorded process (optional; provenance and the
    overlap check).
    """

    pages: np.ndarray
    n_pages: int
    name: str = "trace"
    meta: dict[str, Any] = field(default_factory=dict)
    region_sizes: np.ndarray | None = None
    t_ns: np.ndarray | None = None
    writer: np.ndarray | None = None
    region_starts: np.ndarray | None = None
    region_writers: np.ndarray | None = None

    def __post_init__(self) -> None:
        pages = validate_pages(self.pages, where=self.name)
        object.__setattr__(self, "pages", pages)
        if int(self.n_pages) <= 0:
            raise TraceError(f"{self.name}: n_pages must be positive, got {self.n_pages}")
        if int(self.n_pages) > MAX_PAGES:
            raise TraceError(f"{self.name}: n_pages: {int(self.n_pages)} pages is over the limit "
                             f"of {MAX_PAGES} (1 TiB of 4 KiB pages)")
        if int(pages.max()) >= int(self.n_pages):
            i = int(np.argmax(pages >= int(self.n_pages)))
            raise TraceError(
                f"{self.name}: pages: page index {int(pages[i])} at write {i} is outside "
                f"the region(s) of n_pages={self.n_pages}"
            )
        object.__setattr__(self, "n_pages", int(self.n_pages))
        if self.region_sizes is not None:
            sizes = np.asarray(self.region_sizes)
            if sizes.dtype.kind not in "iu":
                raise TraceError(f"{self.name}: region_sizes must hold integers, "
                                 f"got {sizes.dtype}")
            if sizes.ndim != 1:  # a (2, 2) array is no list of four regions
                raise TraceError(f"{self.name}: region_sizes must be 1-D (one size per "
                                 f"region), got shape {sizes.shape}")
            sizes = sizes.astype(np.int64)
            # each size at most n_pages first: a sum of huge sizes wraps around in int64
            if (sizes.size == 0 or sizes.min() <= 0 or sizes.max() > self.n_pages
                    or int(sizes.sum()) != self.n_pages):
                raise TraceError(f"{self.name}: region_sizes must be positive and sum to "
                                 f"n_pages={self.n_pages}")
            sizes.setflags(write=False)
            object.__setattr__(self, "region_sizes", sizes)
        n_regions = 1 if self.region_sizes is None else int(self.region_sizes.size)
        for f, dtype in (("region_starts", np.uint64), ("region_writers", np.int32)):
            v = getattr(self, f)
            if v is None:
                continue
            a = np.asarray(v)
            if a.ndim != 1 or a.dtype.kind not in "iu" or a.size != n_regions:
                raise TraceError(f"{self.name}: {f} must hold {n_regions} integer(s), one "
                                 f"per region (1-D), got shape {a.shape} of {a.dtype}")
            if a.dtype.kind == "i" and a.size and a.min() < 0:
                raise TraceError(f"{self.name}: {f} has a negative entry")
            a = a.astype(dtype)
            a.setflags(write=False)
            object.__setattr__(self, f, a)
        for f, dtype in (("t_ns", np.int64), ("writer", np.int32)):
            v = getattr(self, f)
            if v is None:
                continue
            a = np.asarray(v)
            if a.shape != self.pages.shape:
                raise TraceError(f"{self.name}: {f} must have one entry per write "
                                 f"({self.writes}), got shape {a.shape}")
            if a.dtype.kind not in "iu":
                raise TraceError(f"{self.name}: {f} must hold integers, got {a.dtype}")
            if f == "writer":
                self._check_writer_roles(a)
            a = a.astype(dtype, copy=False)
            a.setflags(write=False)
            object.__setattr__(self, f, a)
        self._check_regions()

    def _check_writer_roles(self, w: np.ndarray) -> None:
        """Roles are 0 (the parent) or i >= 1 (the i-th child) and fit int32; without
        ``region_writers`` every region is the parent's, so every write is too."""
        if not w.size:
            return
        top = int(np.iinfo(np.int32).max) if self.region_writers is not None else 0
        lo, hi = int(w.min()), int(w.max())
        if lo < 0 or hi > top:
            i = int(np.argmax((w < 0) | (w > top)))
            need = (f"0..{top}" if top else
                    "0 (no region_writers: every region is the parent's)")
            raise TraceError(f"{self.name}: writer: write {i} has writer {int(w[i])}, "
                             f"must be {need}")

    def _check_regions(self) -> None:
        """Same-writer regions must not overlap; each write must land in its writer's region."""
        starts, sizes = self.region_starts, self.region_sizes
        rw = self.region_writers
        if starts is not None and sizes is not None:
            if np.any(starts % PAGE_SIZE):
                i = int(np.argmax(starts % PAGE_SIZE != 0))
                raise TraceError(f"{self.name}: region_starts: region {i} starts at "
                                 f"{int(starts[i]):#x}, not page aligned")
            room = (np.uint64(2**64 - PAGE_SIZE) - starts) // np.uint64(PAGE_SIZE) + np.uint64(1)
            if np.any(sizes.astype(np.uint64) > room):  # its end would wrap to a low address
                i = int(np.argmax(sizes.astype(np.uint64) > room))
                raise TraceError(f"{self.name}: region_starts: region {i} at "
                                 f"{int(starts[i]):#x}+{int(sizes[i])} pages runs past the top "
                                 "of the 64-bit address space")
            owners = rw if rw is not None else np.zeros(sizes.size, dtype=np.int32)
            order = np.lexsort((starts, owners))
            s, w = starts[order], owners[order]
            end = s + sizes[order].astype(np.uint64) * np.uint64(PAGE_SIZE)
            bad = np.nonzero((w[1:] == w[:-1]) & (end[:-1] > s[1:]))[0]
            if bad.size:
                a, b = int(order[bad[0]]), int(order[bad[0] + 1])
                raise TraceError(f"{self.name}: region_starts: regions {a} and {b} overlap "
                                 f"(writer {int(w[bad[0]])}: {int(s[bad[0]]):#x}+"
                                 f"{int(sizes[a])} pages runs past {int(s[bad[0] + 1]):#x})")
        if self.writer is not None and rw is not None:
            ends = self.region_ends
            for lo in range(0, self.writes, CHECK_CHUNK):  # chunks: bounded temporaries
                region = np.searchsorted(ends, self.pages[lo:lo + CHECK_CHUNK], side="right")
                wrong = np.nonzero(rw[region] != self.writer[lo:lo + CHECK_CHUNK])[0]
                if wrong.size:
                    j = int(wrong[0])
                    i = lo + j
                    raise TraceError(f"{self.name}: writer: write {i} (writer "
                                     f"{int(self.writer[i])}, page {int(self.pages[i])}) falls "
                                     f"in region {int(region[j])} of writer {int(rw[region[j]])}")

    @property
    def writes(self) -> int:
        return int(self.pages.shape[0])

    @property
    def region_ends(self) -> np.ndarray:
        """Exclusive end page of each region, ascending (one region: ``[n_pages]``)."""
        if self.region_sizes is None:
            return np.array([self.n_pages], dtype=np.int64)
        return np.cumsum(self.region_sizes)

    @property
    def region_begins(self) -> np.ndarray:
        """First page of each region (one region: ``[0]``)."""
        ends = self.region_ends
        return np.concatenate([[0], ends[:-1]]).astype(np.int64)

    @property
    def region_vpn_offsets(self) -> np.ndarray:
        """Per region, what turns a page index into its virtual page number: page ``p`` of
        region ``r`` lies at virtual page ``p + region_vpn_offsets[r]`` (the recorded address
        ``region_starts[r] // PAGE_SIZE`` for the region's first page). Without
        ``region_starts`` every offset is 0: the page index is the virtual page number (one
        region at address 0; regions laid end to end). What allocators align their groups
        to, and what ``guarded``'s align values read (the module: ``addr >> PAGE_SHIFT``)."""
        if self.region_starts is None:
            return np.zeros(self.region_ends.shape[0], dtype=np.int64)
        return (self.region_starts // np.uint64(PAGE_SIZE)).astype(np.int64) \
            - self.region_begins

    @property
    def region_procs(self) -> np.ndarray:
        """Per region, the ordinal of its process (``region_writers``) among the trace's
        writers in the order of their first write: 0 for the process of the first write, 1
        for the next one to write, ...; a writer that never writes comes after all that do.
        A writer's first write always faults (precopy copies only within the faulting
        process's regions), so this is also the order of first demand faults, which is how
        the module numbers the processes of a target (``cowrl_guarded_proc``). Without
        ``region_writers`` (one process) every ordinal is 0."""
        n_reg = self.region_ends.shape[0]
        if self.region_writers is None:
            return np.zeros(n_reg, dtype=np.int64)
        rw = np.asarray(self.region_writers, dtype=np.int64)
        region = self.region_of(self.pages)
        first = np.full(n_reg, self.writes, dtype=np.int64)  # never written: after all
        seen, at = np.unique(region, return_index=True)
        first[seen] = at
        roles, role_of = np.unique(rw, return_inverse=True)
        role_first = np.full(roles.size, self.writes, dtype=np.int64)
        np.minimum.at(role_first, role_of, first)
        rank = np.empty(roles.size, dtype=np.int64)
        rank[np.lexsort((roles, role_first))] = np.arange(roles.size)
        return rank[role_of]

    def region_of(self, pages: np.ndarray) -> np.ndarray:
        """The index of the region holding each of ``pages`` (regions are contiguous and
        in page order: region ``r`` is ``region_begins[r] .. region_ends[r] - 1``)."""
        return np.searchsorted(self.region_ends, pages, side="right")

    def region_end_of(self, pages: np.ndarray) -> np.ndarray:
        """The exclusive end page of the region holding each of ``pages``."""
        return self.region_ends[self.region_of(pages)]


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
    if a.max() >= MAX_PAGES:  # in the array's own dtype: a uint64 or float is not wrapped
        i = int(np.argmax(a >= MAX_PAGES))
        raise TraceError(f"{where}: {_too_large(f'{a[i]} at position {i}')}")
    # A read-only int64 memmap (a large .npy) is used in place, and so is a read-only int64
    # array that owns its data (one this function made: a Trace re-checks its pages);
    # anything else is copied, so the trace cannot change under the caller's hands.
    mapped = arr if isinstance(arr, np.memmap) else a.base
    in_place = a.dtype == np.int64 and (
        (isinstance(mapped, np.memmap) and mapped.mode == "r" and not a.flags.writeable)
        or (isinstance(arr, np.memmap) and arr.mode == "r")
        or (not a.flags.writeable and a.base is None and a.flags.owndata))
    if not in_place:
        a = a.astype(np.int64, copy=True)
    if a.min() < 0:
        i = int(np.argmax(a < 0))
        raise TraceError(f"{where}: negative page index {int(a[i])} at position {i}")
    a.setflags(write=False)
    return a


def _too_large(index: str) -> str:
    return (f"page index {index} is over the limit of {MAX_PAGES} pages (1 TiB): pages are "
            "0-based indices within the region, not virtual page numbers or addresses")


COMPRESSED = {b"\x1f\x8b": "gzip", b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2",
              b"\x28\xb5\x2f\xfd": "zstd"}
"""Leading bytes of the compressed formats a trace file might come in, by name."""
COMPRESSED_SUFFIXES = {".gz": "gzip", ".xz": "xz", ".bz2": "bzip2", ".zst": "zstd"}


NATIVE = {b"\x93NUMPY": ".npy", b"PK\x03\x04": ".npz"}
"""Leading bytes of the array formats, by the suffix that reads them."""


def _compressed(p: Path, head: bytes, what: str) -> None:
    """A file compressed as a whole (``head``: its first bytes) is refused, saying so; so is
    a .npy or .npz under another suffix (the suffix picks the reader)."""
    kind = next((k for m, k in COMPRESSED.items() if head.startswith(m)), None)
    if kind:
        raise TraceError(f"{p}: {kind}-compressed, not {what}: decompress it first (traces "
                         "are read uncompressed; .npz is the compressed format)")
    suffix = next((s for m, s in NATIVE.items() if head.startswith(m)), None)
    if suffix:
        raise TraceError(f"{p}: a {suffix} file, not {what}: rename it to {p.stem}{suffix} "
                         "(the suffix picks how a trace is read)")


def _check_magic(p: Path, magic: bytes, what: str) -> None:
    """A file that does not start as ``what`` does fails here, not in numpy's pickle guess."""
    with p.open("rb") as f:
        head = f.read(max(len(magic), 6))
    if not head:
        raise TraceError(f"{p}: the file is empty (0 bytes), not {what}")
    if not head.startswith(magic):
        _compressed(p, head, what)
        raise TraceError(f"{p}: not {what} (its first bytes are not that format's header)")


def _load_txt(path: Path) -> np.ndarray:
    with path.open("rb") as f:
        _compressed(path, f.read(6), "text")
    vals: list[int] = []
    # utf-8-sig: a byte-order mark (a column exported by a spreadsheet) is not part of line 1
    with path.open(encoding="utf-8-sig") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                v = int(line)
            except ValueError:
                raise TraceError(
                    f"{path}:{lineno}: expected one integer page index, got {line!r}"
                ) from None
            if v < 0:
                raise TraceError(f"{path}:{lineno}: negative page index {v}")
            if v >= MAX_PAGES:
                raise TraceError(f"{path}:{lineno}: {_too_large(str(v))}")
            vals.append(v)
    return np.asarray(vals, dtype=np.int64)


def _field(p: Path, name: str, read: Callable[[], np.ndarray], integers: bool = True
           ) -> np.ndarray:
    """``read()``, the array ``name`` of file ``p``, holding integers (if ``integers``): an
    object array (pickled Python objects, never unpickled) or floats, even whole ones, is a
    TraceError naming the file and the field."""
    try:
        a = read()
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise
        raise TraceError(f"{p}: {name}: an object array (pickled Python objects), not "
                         "integers") from None
    if integers and a.dtype.kind not in "iu":
        raise TraceError(f"{p}: {name} must hold integers, got {a.dtype}")
    return a


def _load_npy(p: Path) -> np.ndarray:
    _check_magic(p, b"\x93NUMPY", "a .npy array")
    # mmap: a large .npy is read once, by validate_pages' conversion, not twice.
    return _field(p, "pages", lambda: _npy_array(p))


def _npy_array(p: Path) -> np.ndarray:
    with p.open("rb") as f:  # mmap_mode reports an object array otherwise than allow_pickle
        if _npy_header(f)[2].hasobject:
            raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    return np.load(p, mmap_mode="r", allow_pickle=False)


def _npy_header(f: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) of the ``.npy`` stream ``f``, read past its header."""
    version = np.lib.format.read_magic(f)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    return read_header(f)


def _load_npz(p: Path, times: bool) -> tuple[np.ndarray, int | None, dict[str, Any],
                                              dict[str, np.ndarray]]:
    _check_magic(p, b"PK", "a .npz archive")
    with np.load(p, allow_pickle=False) as z:
        if "pages" not in z:
            raise TraceError(f"{p}: .npz trace has no 'pages' array")
        pages = _field(p, "pages", lambda: z["pages"])
        n_pages = None
        if "n_pages" in z:
            n = _field(p, "n_pages", lambda: z["n_pages"])
            if n.ndim != 0 or n.dtype.kind not in "iu":
                raise TraceError(f"{p}: n_pages must be a 0-d integer, got {n!r}")
            n_pages = int(n)
        try:
            meta = json.loads(str(_field(p, "meta", lambda: z["meta"], integers=False))) \
                if "meta" in z else {}
        except json.JSONDecodeError as e:
            raise TraceError(f"{p}: meta is not JSON ({e})") from None
        if not isinstance(meta, dict):
            raise TraceError(f"{p}: meta must be a JSON object")
        extra = {f: _field(p, f, lambda f=f: z[f]) for f in MULTI_FIELDS
                 if f in z and (times or f not in ("t_ns", "writer"))}
        if times and "t_ns_delta" in z:
            delta = _field(p, "t_ns_delta", lambda: z["t_ns_delta"])
            extra["t_ns"] = np.cumsum(delta, dtype=np.int64)
    return pages, n_pages, meta, extra


def load_trace(path: str | Path, times: bool = True) -> Trace:
    """Load a trace from ``.npy``, ``.txt`` or ``.npz``; the name is the file stem.

    ``times=False`` skips the per-write ``t_ns`` and ``writer`` of a recorded
    trace (what replay needs is pages and regions; it halves the memory).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise TraceError(f"{p}: is a directory, not a trace file")
    if not p.is_file():
        raise TraceError(f"{p}: no such trace file")
    suffix = p.suffix.lower()
    extra: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    n_pages: int | None = None
    try:
        if suffix == ".npy":
            pages = _load_npy(p)
        elif suffix == ".npz":
            pages, n_pages, meta, extra = _load_npz(p, times)
        elif suffix in (".txt", ".csv", ""):
            pages = _load_txt(p)
        else:
            if suffix in COMPRESSED_SUFFIXES:
                raise TraceError(f"{p}: a {COMPRESSED_SUFFIXES[suffix]}-compressed file "
                                 f"({suffix}): decompress it first (traces are read "
                                 "uncompressed: .npy, .txt; .npz is the compressed format)")
            raise TraceError(f"{p}: unknown trace format {suffix!r} (use .npy, .txt or .npz)")
        pages = validate_pages(pages, where=str(p))
    except TraceError:
        raise
    except EOFError:
        raise TraceError(f"{p}: truncated or empty file (no data left)") from None
    except (OSError, ValueError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError,
            KeyError) as e:
        what = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TraceError(f"{p}: unreadable or truncated trace ({what})") from None
    if n_pages is None:
        n_pages = (int(np.sum(extra["region_sizes"])) if "region_sizes" in extra
                   else int(pages.max()) + 1)
    meta = {**meta, "source": str(p)}
    try:
        return Trace(pages=pages, n_pages=n_pages, name=p.stem, meta=meta, **extra)
    except TraceError as e:  # name the file, not just its stem
        raise TraceError(f"{p}: {str(e).split(': ', 1)[-1]}") from None


def corpus_trace(path: str, name: str | None = None, seed: int = 0,
                 times: bool = False) -> Trace:
    """A committed trace file as a workload (``conf/workload/<name>.yaml``).

    ``path`` is relative to the project root (``data/traces/x.npz``: the checkout's
    ``data/``, else the copy a wheel ships, :func:`cowrl.paths.project_path`) or absolute;
    ``seed`` is accepted and ignored (a recording has no randomness left to draw).
    """
    del seed
    t = load_trace(project_path(path), times=times)
    if name and name != t.name:
        t = Trace(pages=t.pages, n_pages=t.n_pages, name=name, meta=t.meta,
                  region_sizes=t.region_sizes, t_ns=t.t_ns, writer=t.writer,
                  region_starts=t.region_starts, region_writers=t.region_writers)
    return t


def iter_pages(path: str | Path, chunk: int = 1 << 20) -> Iterator[np.ndarray]:
    """The ``pages`` of a trace file in chunks of at most ``chunk`` writes (int64).

    ``.npy`` is memory-mapped and ``.npz`` members are decompressed as a stream,
    so a trace of 10^7+ writes is read in bounded memory.
    """
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".npy", ".npz"):
        yield load_trace(p).pages
        return
    if p.is_dir():
        raise TraceError(f"{p}: is a directory, not a trace file")
    if not p.is_file():
        raise TraceError(f"{p}: no such trace file")
    try:
        if p.suffix.lower() == ".npy":  # errors as load_trace's (a truncated file too)
            a = _load_npy(p)
            for i in range(0, a.shape[0], chunk):
                yield np.asarray(a[i:i + chunk], dtype=np.int64)
            return
        with zipfile.ZipFile(p) as zf, zf.open("pages.npy") as f:
            shape, fortran, dtype = _npy_header(f)
            if len(shape) != 1 or fortran:
                raise TraceError(f"{p}: pages must be a 1-D array, got shape {shape}")
            if dtype.kind not in "iu":  # as load_trace: no float, no pickled objects
                raise TraceError(f"{p}: pages must hold integers, got {dtype}")
            left = shape[0]
            while left:
                n = min(chunk, left)
                raw = f.read(n * dtype.itemsize)
                if len(raw) != n * dtype.itemsize:
                    raise TraceError(f"{p}: pages: truncated ({left} writes missing)")
                yield np.frombuffer(raw, dtype=dtype).astype(np.int64)
                left -= n
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        what = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TraceError(f"{p}: unreadable or truncated trace ({what})") from None


def _compact(a: np.ndarray, signed: bool = False) -> np.ndarray:
    """The smallest integer dtype that holds ``a`` (the file stays small; loads as int64)."""
    hi = int(a.max()) if a.size else 0
    lo = int(a.min()) if a.size else 0
    for dt in ((np.int8, np.int16, np.int32, np.int64) if signed or lo < 0 else
               (np.uint8, np.uint16, np.uint32, np.uint64)):
        if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
            return a.astype(dt)
    return a


def save_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` as compressed native ``.npz`` (or ``.npy``/``.txt`` by suffix: pages only).

    Written to a temporary name and renamed, so a reader never sees half a file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    multi = any(getattr(trace, f) is not None for f in MULTI_FIELDS)
    if p.suffix in (".npy", ".txt") and multi:
        raise TraceError(f"{p}: a multi-region or timed trace needs the .npz format")
    tmp = p.with_name(p.name + ".tmp" + p.suffix)
    if p.suffix == ".npy":
        np.save(tmp, trace.pages)
    elif p.suffix == ".txt":
        np.savetxt(tmp, trace.pages, fmt="%d")
    else:
        arrays: dict[str, Any] = {
            "pages": _compact(trace.pages), "n_pages": np.int64(trace.n_pages),
            "meta": np.str_(json.dumps({"format": FORMAT_VERSION, **trace.meta},
                                       default=str))}
        for f in MULTI_FIELDS:
            v = getattr(trace, f)
            if v is None:
                continue
            if f == "t_ns" and v.size > 1 and np.all(np.diff(v) >= 0):
                # nondecreasing (a recording): small deltas compress ~10x better than ns
                arrays["t_ns_delta"] = _compact(np.diff(v, prepend=np.int64(0)))
            else:
                arrays[f] = v if f in ("t_ns", "region_starts") else _compact(v)
        tmp = p.with_name(p.name + ".tmp.npz")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    tmp.replace(p)
    return p
