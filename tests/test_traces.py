"""Trace files (load/save round trips, bad input) and generator parameter checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cowrl.errors import ConfigError, TraceError
from cowrl.traces.generators import GENERATORS
from cowrl.traces.io import Trace, iter_pages, load_trace, save_trace


@pytest.mark.parametrize("suffix", [".npy", ".txt", ".npz"])
def test_save_load_roundtrip(tmp_path: Path, suffix: str) -> None:
    t = GENERATORS["zipf"](n_pages=300, writes=1000, seed=5)
    back = load_trace(save_trace(t, tmp_path / f"z{suffix}"))
    assert np.array_equal(back.pages, t.pages) and back.pages.dtype == np.int64
    assert back.name == "z"
    if suffix == ".npz":
        assert back.n_pages == 300 and back.meta["generator"] == "zipf"
    else:
        assert back.n_pages == int(t.pages.max()) + 1


def test_npz_keeps_a_region_larger_than_the_pages_written(tmp_path: Path) -> None:
    t = Trace(pages=np.array([0, 5, 2]), n_pages=4096, name="small")
    back = load_trace(save_trace(t, tmp_path / "small.npz"))
    assert back.n_pages == 4096 and back.pages.tolist() == [0, 5, 2]


def test_txt_comments_and_blank_lines(tmp_path: Path) -> None:
    p = tmp_path / "c.txt"
    p.write_text("# written by hand\n3\n\n1  # second\n 4 \n")
    t = load_trace(p)
    assert t.pages.tolist() == [3, 1, 4] and t.n_pages == 5 and t.name == "c"


def test_txt_with_a_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    """A column saved by a spreadsheet starts with a UTF-8 byte-order mark and ends its lines
    with CRLF; line 1 was 'expected one integer page index, got '\\ufeff0''."""
    p = tmp_path / "sheet.csv"
    p.write_bytes("\ufeff0\r\n1\r\n# note\r\n2\r\n".encode())
    t = load_trace(p)
    assert t.pages.tolist() == [0, 1, 2] and t.n_pages == 3


def _npy(tmp_path: Path, arr: np.ndarray) -> Path:
    p = tmp_path / "bad.npy"
    np.save(p, arr)
    return p


@pytest.mark.parametrize("make, needle", [
    (lambda d: _npy(d, np.array([1, -2, 3])), "negative"),
    (lambda d: _npy(d, np.array([1.0, 2.5])), "pages must hold integers, got float64"),
    (lambda d: _npy(d, np.array([], dtype=np.int64)), "empty"),
    (lambda d: _npy(d, np.zeros((2, 3), dtype=np.int64)), "1-D"),
    (lambda d: _npy(d, np.array([True, False])), "integers"),
    (lambda d: (d / "bad.npy").write_bytes(b"not numpy") and d / "bad.npy", "not a .npy"),
    (lambda d: (d / "bad.npz").write_text("hello") and d / "bad.npz", "not a .npz"),
    (lambda d: (d / "bad.npz").write_bytes(b"") or d / "bad.npz", "empty"),
    (lambda d: _npy(d, np.array([0, 10**12])), "over the limit"),  # a MemoryError before
    (lambda d: _npy(d, np.array([0, 2**64 - 1], dtype=np.uint64)), "over the limit"),  # not -1
    (lambda d: _npy(d, np.array([0.0, 1e30])), "pages must hold integers"),
    (lambda d: (d / "bad.txt").write_text("0\n" + "9" * 25 + "\n") and d / "bad.txt",
     "bad.txt:2: page index 9999"),  # an OverflowError before
    (lambda d: (d / "bad.txt").write_text("0\n-" + "9" * 25 + "\n") and d / "bad.txt",
     "bad.txt:2: negative"),
    (lambda d: (d / "bad.csv").write_text("page,t_ns\n1,2\n") and d / "bad.csv", "bad.csv:1"),
    (lambda d: (d / "adir").mkdir() or d / "adir", "is a directory"),
    (lambda d: (d / "bad.txt").write_text("1\n2\n-7\n") and d / "bad.txt", "negative"),
    (lambda d: (d / "bad.txt").write_text("1\nfoo\n") and d / "bad.txt", "bad.txt:2"),
    (lambda d: (d / "bad.txt").write_text("1\n2.5\n") and d / "bad.txt", "bad.txt:2"),
    (lambda d: (d / "bad.txt").write_text("# nothing\n\n") and d / "bad.txt", "empty"),
    (lambda d: (d / "bad.txt").write_bytes(b"\xff\xfe\x00") and d / "bad.txt", "unreadable"),
    (lambda d: (d / "bad.bin").write_text("1\n") and d / "bad.bin", "format"),
    (lambda d: d / "missing.npy", "no such"),
    (lambda d: np.savez(d / "bad.npz", other=np.arange(3)) or d / "bad.npz", "pages"),
    # a .npy or .npz under another suffix: was a utf-8 codec error called "truncated"
    (lambda d: np.save(d / "a.npy", np.arange(3)) or (d / "a.npy").rename(d / "a.txt") or
     d / "a.txt", "a.txt: a .npy file, not text: rename it to a.npy"),
    (lambda d: np.savez(d / "a.npz", pages=np.arange(3)) or (d / "a.npz").rename(d / "a.npy")
     or d / "a.npy", "a.npy: a .npz file, not a .npy array: rename it to a.npz"),
])
def test_bad_trace_files_raise_one_line_trace_error(tmp_path: Path, make, needle: str) -> None:
    path = make(tmp_path)
    with pytest.raises(TraceError) as e:
        load_trace(path)
    msg = str(e.value)
    assert needle in msg and str(path) in msg and "\n" not in msg, msg


def _gzip(src: Path, dst: Path) -> Path:
    import gzip

    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


@pytest.mark.parametrize("name, source", [
    ("t.npy.gz", "t.npy"), ("t.txt.gz", "t.txt"), ("t.npy", "t.npy"), ("t.txt", "t.txt"),
    ("t.npz", "t.npz"), ("t", "t.txt"),
])
def test_a_gzipped_trace_says_it_is_compressed(tmp_path: Path, name: str, source: str) -> None:
    """A gzip'd trace (by suffix or by content under a trace's suffix) says so in one line;
    it was 'unknown trace format', 'not a .npy array' or, for text, a codec error."""
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "t.npy", np.arange(5))
    (src / "t.txt").write_text("0\n1\n")
    save_trace(Trace(np.arange(5), 5), src / "t.npz")
    p = _gzip(src / source, tmp_path / name)
    with pytest.raises(TraceError) as e:
        load_trace(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: ") and "gzip-compressed" in msg and "decompress it first" in msg
    assert "\n" not in msg, msg


@pytest.mark.parametrize("name", ["locked.txt", "locked.npy", "locked.npz"])
def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """A file without read permission is one line naming it. Root reads it anyway (CI runs as
    root, where this test was skipped): there opening it raises what it raises for a user."""
    p = tmp_path / name
    if p.suffix == ".npz":
        save_trace(Trace(np.arange(3), 3), p)
    elif p.suffix == ".npy":
        np.save(p, np.arange(3))
    else:
        p.write_text("1\n")
    p.chmod(0)
    if os.geteuid() == 0:
        real_open, real_builtin = Path.open, open

        def check(f: object) -> None:
            if isinstance(f, (str, os.PathLike)) and Path(f) == p:
                raise PermissionError(13, "Permission denied", str(f))

        def path_open(self: Path, *a: Any, **kw: Any) -> Any:
            check(self)
            return real_open(self, *a, **kw)

        def builtin_open(f: Any, *a: Any, **kw: Any) -> Any:
            check(f)
            return real_builtin(f, *a, **kw)

        monkeypatch.setattr(Path, "open", path_open)
        monkeypatch.setattr("builtins.open", builtin_open)
    with pytest.raises(TraceError) as e:
        load_trace(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: ") and "Permission denied" in msg and "\n" not in msg, msg


@pytest.mark.parametrize("write, field", [
    # Bad fields must not escape as TypeError, and the message names the path and the field.
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.array([5, 6])), "n_pages"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(0)), "n_pages"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(2)), "n_pages"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(5), meta=np.str_("[1]")),
     "meta"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(1 << 40)), "n_pages"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(8),
                        region_sizes=np.array([4.0, 4.0])), "region_sizes"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(8),
                        t_ns_delta=np.array([0.5, 1.5])), "t_ns_delta"),
    # a (2, 2) array was flattened into four regions
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(8),
                        region_sizes=np.array([[2, 2], [2, 2]])), "region_sizes must be 1-D"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(8),
                        region_sizes=np.array([4, 4]),
                        region_writers=np.array([[0], [0]])), "region_writers"),
    (lambda p: np.savez(p, pages=np.array([1.0, 2.0]), n_pages=np.int64(8)),
     "pages must hold integers, got float64"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(8),
                        region_sizes=np.array([4, 4], dtype=object)),
     "region_sizes: an object array"),
    (lambda p: np.savez(p, pages=np.array([1, 2]), n_pages=np.int64(8),
                        meta=np.array([{"a": 1}], dtype=object)), "meta: an object array"),
], ids=["n_pages-not-scalar", "n_pages-zero", "n_pages-too-small", "meta-not-a-dict",
        "n_pages-over-the-limit", "region_sizes-float", "t_ns_delta-float",
        "region_sizes-2d", "region_writers-2d", "pages-float", "region_sizes-object",
        "meta-object"])
def test_bad_npz_fields_raise_trace_error_naming_the_file(tmp_path: Path, write,
                                                         field: str) -> None:
    p = tmp_path / "bad.npz"
    write(p)
    with pytest.raises(TraceError) as e:
        load_trace(p)
    msg = str(e.value)
    assert str(p) in msg and field in msg and "\n" not in msg, msg


@pytest.mark.parametrize("arr, needle", [
    # a float .npy of whole numbers was cast silently (.npy traces are integers, as .txt)
    (np.array([0.0, 1.0, 2.0]), "pages must hold integers, got float64"),
    (np.array([0, 1, 2], dtype=object), "pages: an object array"),
], ids=["float-whole", "object"])
def test_npy_of_non_integers_names_file_and_field(tmp_path: Path, arr: np.ndarray,
                                                  needle: str) -> None:
    p = tmp_path / "bad.npy"
    np.save(p, arr, allow_pickle=True)
    for read in (load_trace, lambda q: list(iter_pages(q))):
        with pytest.raises(TraceError) as e:
            read(p)
        msg = str(e.value)
        assert msg.startswith(f"{p}: ") and needle in msg and "\n" not in msg, msg


def test_trace_object_checks() -> None:
    with pytest.raises(TraceError, match="outside the region"):
        Trace(pages=np.array([0, 9]), n_pages=5, name="t")
    with pytest.raises(TraceError, match="n_pages"):
        Trace(pages=np.array([0]), n_pages=0, name="t")
    t = Trace(pages=[1, 2], n_pages=3)
    assert not t.pages.flags.writeable and t.writes == 2


# --- generators ----------------------------------------------------------------------------


@pytest.mark.parametrize("gen", sorted(GENERATORS))
def test_generators_are_seeded_and_sized(gen: str) -> None:
    kw = {"n_pages": 1000, "seed": 3}
    if gen != "sparse":
        kw["writes"] = 2500
    a, b = GENERATORS[gen](**kw), GENERATORS[gen](**kw)
    assert np.array_equal(a.pages, b.pages) and a.n_pages == 1000
    assert a.writes == (2500 if gen != "sparse" else 64)
    assert 0 <= a.pages.min() and a.pages.max() < 1000
    if gen in ("uniform", "zipf", "interleaved", "phased", "sparse"):
        assert not np.array_equal(a.pages, GENERATORS[gen](**{**kw, "seed": 4}).pages)


@pytest.mark.parametrize("gen, kw, field", [
    ("uniform", {"n_pages": -1}, "n_pages"),
    ("sequential", {"n_pages": 0}, "n_pages"),
    ("reverse", {"writes": -5}, "writes"),
    ("uniform", {"n_pages": 2.5}, "n_pages"),
    ("stride", {"stride": 0}, "stride"),
    ("interleaved", {"streams": 0}, "streams"),
    ("interleaved", {"n_pages": 4, "streams": 8}, "streams"),
    ("sparse", {"touched": 0}, "touched"),
    ("sparse", {"n_pages": 10, "touched": 20}, "touched"),
    ("zipf", {"alpha": 0}, "alpha"),
    ("phased", {"phase_writes": 0}, "phase_writes"),
    # over the format's limit: refused before allocating (a MemoryError, or an 8 GiB array
    # for 2^30, before), and as n_pages, not as a page index of the drawn trace
    ("sequential", {"n_pages": 2**40}, "n_pages 1099511627776 is over the limit"),
    ("uniform", {"n_pages": 2**40}, "n_pages 1099511627776 is over the limit"),
])
def test_generator_bad_params_raise_config_error_naming_field(gen: str, kw: dict,
                                                              field: str) -> None:
    with pytest.raises(ConfigError) as e:
        GENERATORS[gen](**kw)
    assert field in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("gen, kw, field", [
    # Non-numbers must not escape as ValueError/TypeError.
    ("uniform", {"n_pages": "abc"}, "n_pages"),
    ("uniform", {"n_pages": None}, "n_pages"),
    ("zipf", {"alpha": "x"}, "alpha"),
])
def test_generator_non_numeric_params_raise_config_error(gen: str, kw: dict,
                                                              field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        GENERATORS[gen](**kw)


# -- multi-region traces (recorded programs) ------------------------------------------------
def _multi(**kw) -> Trace:
    args = dict(pages=np.array([0, 3, 4, 9, 5]), n_pages=10, name="multi",
                region_sizes=np.array([4, 2, 4]),
                region_starts=np.array([0x10000, 0x40000, 0x10000], dtype=np.uint64),
                region_writers=np.array([0, 0, 1]), t_ns=np.array([5, 9, 12, 30, 31]),
                writer=np.array([0, 0, 0, 1, 0]))
    args.update(kw)
    return Trace(**args)


def test_multi_region_roundtrip(tmp_path: Path) -> None:
    t = _multi()
    back = load_trace(save_trace(t, tmp_path / "m.npz"))
    for f in ("pages", "region_sizes", "region_starts", "region_writers", "t_ns", "writer"):
        assert np.array_equal(getattr(back, f), getattr(t, f)), f
    assert back.n_pages == 10 and back.meta["format"] == 2
    assert back.region_of(np.array([0, 3, 4, 5, 6, 9])).tolist() == [0, 0, 1, 1, 2, 2]
    assert back.region_end_of(np.array([0, 4, 5, 6, 9])).tolist() == [4, 6, 6, 10, 10]
    light = load_trace(tmp_path / "m.npz", times=False)
    assert light.t_ns is None and light.writer is None and light.region_sizes is not None


def test_regions_at_the_ends_of_the_address_space_load(tmp_path: Path) -> None:
    """Address 0, the tops of 47/56-bit user space and a region ending exactly at 2^64 are
    valid places; replay reads only the start's page number modulo 2 MiB (guarded's align,
    the kernel harness's slots)."""
    top = 2**64 - 2 * 0x1000
    for starts in ([0x0, 2**47 - 0x2000, 0x10000], [2**56 - 0x4000, top, 0x0]):
        t = _multi(region_starts=np.array(starts, dtype=np.uint64))
        back = load_trace(save_trace(t, tmp_path / "ends.npz"))
        assert np.array_equal(back.region_starts, t.region_starts)
        assert np.all(back.region_vpn_offsets + back.region_begins
                      == np.array(starts, dtype=np.uint64) // 0x1000)


def test_multi_region_file_is_compact(tmp_path: Path) -> None:
    n = 200_000
    t = Trace(pages=np.arange(n) % 5000, n_pages=5000, region_sizes=np.array([2500, 2500]),
              t_ns=np.arange(n) * 1000, writer=np.zeros(n, dtype=np.int32),
              region_writers=np.array([0, 0]))
    p = save_trace(t, tmp_path / "big.npz")
    assert p.stat().st_size < 0.1 * n * 8  # compressed, compact dtypes
    chunks = list(iter_pages(p, chunk=30_000))
    assert len(chunks) == 7 and np.array_equal(np.concatenate(chunks), t.pages)


@pytest.mark.parametrize("kw, needle", [
    (dict(region_starts=np.array([0x10000, 0x12000, 0x10000], dtype=np.uint64)), "overlap"),
    (dict(region_starts=np.array([0x10001, 0x40000, 0x10000], dtype=np.uint64)), "aligned"),
    # wrapped past 2^64, its end was 0x1000: an overlap with region 0 went unseen
    (dict(region_starts=np.array([0x0, 2**64 - 0x1000, 0x10000], dtype=np.uint64)),
     "region 1 at 0xfffffffffffff000+2 pages runs past the top of the 64-bit address space"),
    (dict(writer=np.array([0, 0, 1, 1, 0])), "writer: write 2"),
    (dict(pages=np.array([0, 3, 10])), "outside"),
    (dict(region_sizes=np.array([4, 2, 5])), "sum to"),
    (dict(region_writers=np.array([0, 1])), "region_writers"),
    (dict(t_ns=np.array([1, 2])), "t_ns"),
])
def test_bad_multi_region_traces(tmp_path: Path, kw, needle: str) -> None:
    with pytest.raises(TraceError) as e:
        _multi(**kw)
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_bad_multi_region_file_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "over.npz"
    np.savez(p, pages=np.array([0, 1]), n_pages=np.int64(4), region_sizes=np.array([2, 2]),
             region_starts=np.array([0x1000, 0x2000], dtype=np.uint64))
    with pytest.raises(TraceError, match=r"over\.npz: region_starts: regions 0 and 1 overlap"):
        load_trace(p)


_RW = dict(region_sizes=np.array([2, 2]), region_writers=np.array([0, 1]),
           region_starts=np.array([0x1000, 0x1000], dtype=np.uint64))


@pytest.mark.parametrize("writer, regions, needle", [
    (np.array([0, 1, 1]), {}, "must have one entry per write (4)"),
    (np.array([0.0, 0.0, 1.0, 1.0]), _RW, "must hold integers, got float64"),
    # values: a negative role, a role with no region_writers to match, one int32 wraps to 0
    (np.array([0, 0, -1, 1]), _RW, "write 2 has writer -1, must be 0..2147483647"),
    (np.array([0, 0, 0, 7]), {}, "write 3 has writer 7, must be 0 (no region_writers"),
    (np.array([0, 0, 1, 1 << 32]), _RW, "write 3 has writer 4294967296, must be 0..2147483647"),
])
def test_bad_writer_array_names_the_file_and_field(tmp_path: Path, writer: np.ndarray,
                                                   regions: dict, needle: str) -> None:
    p = tmp_path / "w.npz"
    np.savez(p, pages=np.array([0, 1, 2, 3]), n_pages=np.int64(4), writer=writer, **regions)
    with pytest.raises(TraceError) as e:
        load_trace(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: writer") and needle in msg and "\n" not in msg, msg


def _truncate(src: Path, dst: Path, n: int) -> Path:
    dst.write_bytes(src.read_bytes()[:n])
    return dst


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
@pytest.mark.parametrize("keep", [0, 60, 200])
def test_empty_or_truncated_files(tmp_path: Path, suffix: str, keep: int) -> None:
    full = save_trace(_multi() if suffix == ".npz" else Trace(np.arange(500), 500),
                      tmp_path / f"full{suffix}")
    p = _truncate(full, tmp_path / f"cut{suffix}", keep)
    with pytest.raises(TraceError) as e:
        load_trace(p)
    msg = str(e.value)
    assert str(p) in msg and "\n" not in msg, msg


def test_eval_on_an_empty_trace_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = tmp_path / "empty.npy"
    p.write_bytes(b"")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "eval.py"), f"traces=[{p}]", "workloads=[]",
                        "policies=[baseline]", f"out={tmp_path / 'o'}"], capture_output=True,
                       text=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "empty.npy" in r.stderr and "empty" in r.stderr


def test_describe_cli_bad_trace_is_one_line(tmp_path: Path, capsys) -> None:
    from cowrl.record.describe import main

    bad = tmp_path / "neg.txt"
    bad.write_text("1\n-2\n")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {bad}:2: negative page index -2"]


def test_describe_cli_unwritable_img_dir_is_one_line(tmp_path: Path, capsys) -> None:
    from cowrl.record.describe import main

    good = tmp_path / "t.npy"
    np.save(good, np.arange(8))
    (tmp_path / "f").write_text("a file")
    assert main([str(good), "--img", str(tmp_path / "f")]) == 2  # was FileExistsError
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --img: cannot create {tmp_path / 'f'} (File exists)"]


def test_load_trace_expands_the_home_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    np.save(tmp_path / "h.npy", np.array([3, 1]))
    assert load_trace("~/h.npy").pages.tolist() == [3, 1]


def test_iter_pages_errors_name_the_file_as_load_trace(tmp_path: Path) -> None:
    """A truncated .npy through ``iter_pages`` was numpy's bare ValueError ("mmap length is
    greater than file size"), and a missing file an OSError; both are TraceErrors naming the
    file, as ``load_trace`` says them."""
    full = tmp_path / "full.npy"
    np.save(full, np.arange(10_000))
    half = tmp_path / "half.npy"
    half.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    for p, needle in ((half, "unreadable or truncated trace"), (tmp_path / "none.npy",
                      "no such trace file"), (tmp_path / "none.npz", "no such trace file"),
                      (tmp_path, "is a directory")):
        for read in (load_trace, lambda q: list(iter_pages(q))):
            with pytest.raises(TraceError) as e:
                read(p)
            assert str(e.value).startswith(f"{p}: ") and needle in str(e.value), str(e.value)
    assert sum(c.size for c in iter_pages(full, chunk=3000)) == 10_000
