"""experiments/sibling_history.py: its counts worked out by hand, and recounted page by page."""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, load_experiment, run_experiment, table_rows

from cowrl.traces.io import PAGE_SIZE, Trace, load_trace

sh = load_experiment("sibling_history")

# Regions (page index -> vpn): 0 writer 0, pages 0..7 at vpn 0..7; 1 writer 1, pages 8..15 at
# vpn 0..7; 2 writer 1, pages 16..19 at vpn 8..11; 3 writer 0, pages 20..23 at vpn 8..11;
# 4 writer 2, pages 24..31 at vpn 0..7.
# (writer, vpn, page, t_ns) in trace order; the trace is NOT in time order (write 0 at t=100).
WRITES = [(0, 6, 6, 100), (0, 8, 20, 1), (0, 7, 7, 5), (1, 7, 15, 15), (0, 2, 2, 10),
          (1, 1, 9, 20), (0, 5, 5, 30), (1, 2, 10, 40), (1, 5, 13, 45), (0, 3, 3, 50),
          (1, 3, 11, 50), (1, 2, 10, 60), (1, 6, 14, 70), (2, 2, 26, 200), (0, 4, 4, 200)]


def hand_trace(times: bool = True) -> Trace:
    return Trace(pages=np.array([w[2] for w in WRITES]), n_pages=32,
                 region_sizes=np.array([8, 8, 4, 4, 8]),
                 region_starts=np.array([0, 0, 8, 8, 0], dtype=np.uint64) * PAGE_SIZE,
                 region_writers=np.array([0, 1, 1, 0, 2]),
                 writer=np.array([w[0] for w in WRITES]),
                 t_ns=np.array([w[3] for w in WRITES]) if times else None)


def test_counts_by_hand() -> None:
    t = hand_trace()
    assert sh.processes(t) == [0, 1, 2]  # writer 0 first in time (t=1)
    r, label = sh.sibling_history(t)
    # Writer 1's faults (first writes; vpn 2 at t=60 is a refault): 7@15, 1@20, 2@40, 5@45,
    # 3@50, 6@70; writer 2's: 2@200. Writer 0's (the first process) are not counted.
    # sib before: writer 1's 7 (writer 0 at 5), 2 (10), 5 (30); not 1 (never), not 3 (writer 0
    # at 50: the same time, not before), not 6 (writer 0 at 100, after 70, though earlier in
    # the trace); writer 2's 2 (10): 4 of 7.
    # Sibling windows (vpn + 1 .. region end 7): writer 1 at 1@20: 2 (sibling at 10, own later);
    # 7 (sibling at 5) is already its own; at 2@40: 5 (sibling at 30); at 5@45, 3@50, 6@70:
    # nothing new (6 is the sibling's only at 100; 5 and 7 its own); at 7@15 the region ends
    # (vpn 8, written by writer 0 at t=1, is the next region's). Writer 2 at 2@200: 3, 5, 6, 7
    # (4 writer 0 wrote at 200, the same time), none of them written later. Copied 2 + 4,
    # used 2.
    # Plain windows: writer 1 at 1@20: 2, 3, 4, 5, 6 (7 its own), 2..6 later nothing new; used
    # 2, 3, 5, 6. Writer 2 at 2@200: 3..7, none used. Copied 5 + 5, used 4.
    assert label == "t_ns"
    assert r == {"faults": 7, "sib before": 4, "sib copied": 6, "sib used": 2,
                 "all copied": 10, "all used": 4}
    assert r == brute(t)


def test_trace_order_fallback() -> None:
    t = hand_trace(times=False)
    r, label = sh.sibling_history(t)
    # time = the write's index: writer 0 wrote 6 at 0, 7 at 2, 2 at 4, 5 at 6, 3 at 9; writer 1's
    # 7@3, 2@7, 5@8, 3@10, 6@12 now follow a sibling write (5 of 6), writer 2's 2@13 too.
    # Sibling windows: writer 1 at 1@5: 2 and 6; at 2@7: 5; writer 2 at 2@13: 3, 5, 6, 7 (4 is
    # written at 14).
    assert label == "trace order"
    assert r == {"faults": 7, "sib before": 6, "sib copied": 7, "sib used": 3,
                 "all copied": 10, "all used": 4}
    assert r == brute(t)


def test_single_writer_has_no_processes() -> None:
    assert sh.processes(Trace(pages=np.array([0, 1]), n_pages=2)) == []


def brute(t: Trace) -> dict[str, int]:
    """The definitions, write by write in plain Python (an independent implementation): the
    windows are replayed in each process's order, each page copied at most once."""
    pages = t.pages.tolist()
    n = len(pages)
    time = t.t_ns.tolist() if t.t_ns is not None else list(range(n))
    writer = t.writer.tolist()
    ends = t.region_ends.tolist()
    offs = t.region_vpn_offsets.tolist()
    region = [bisect.bisect_right(ends, p) for p in pages]
    vpn = [p + offs[r] for p, r in zip(pages, region, strict=True)]
    start: dict[int, tuple[int, int]] = {}
    for i in range(n):
        key = (time[i], i)
        if writer[i] not in start or key < start[writer[i]]:
            start[writer[i]] = key
    procs = sorted(start, key=start.__getitem__)
    out = dict.fromkeys(sh.COLS, 0)
    inf = float("inf")
    for p in procs[1:]:
        sib: dict[int, int] = {}
        for i in range(n):
            if writer[i] != p and time[i] < sib.get(vpn[i], inf):
                sib[vpn[i]] = time[i]
        faults: list[int] = []  # write indices
        own: dict[int, int] = {}  # vpn -> its fault's place in p's order
        for i in range(n):
            if writer[i] == p and vpn[i] not in own:
                own[vpn[i]] = len(faults)
                faults.append(i)
        out["faults"] += len(faults)
        out["sib before"] += sum(sib.get(vpn[i], inf) < time[i] for i in faults)
        for name, use_sib in (("sib", True), ("all", False)):
            copied: set[int] = set()
            for k, i in enumerate(faults):
                last = ends[region[i]] - 1 + offs[region[i]]  # the region's last vpn
                for u in range(vpn[i] + 1, min(vpn[i] + 64, last) + 1):
                    if u in copied or own.get(u, inf) <= k:
                        continue
                    if use_sib and not sib.get(u, inf) < time[i]:
                        continue
                    copied.add(u)
            out[f"{name} copied"] += len(copied)
            out[f"{name} used"] += sum(u in own for u in copied)
    return out


SUBSET = ("numpy_checkpoint", "shell_subshells", "sqlite_snapshot", "cpython_prefork_freeze")


def test_script_table_matches_brute_force_on_corpus(tmp_path: Path) -> None:
    out = run_experiment("sibling_history", "--traces", ",".join(SUBSET), tmp=tmp_path,
                         timeout=120)
    rows = table_rows(out, 11)
    total = dict.fromkeys(sh.COLS, 0)
    nproc = 0

    def cells(n: int, w: dict[str, int]) -> list[str]:
        def pct(a: int, b: int) -> str:
            return f"{100 * a / b:.1f}%"
        return [str(n), "t_ns", str(w["faults"]), pct(w["sib before"], w["faults"]),
                str(w["sib copied"]), pct(w["sib used"], w["sib copied"]),
                pct(w["sib used"], w["faults"]), str(w["all copied"]),
                pct(w["all used"], w["all copied"]), pct(w["all used"], w["faults"])]

    for name in SUBSET:
        t = load_trace(ROOT / "data" / "traces" / f"{name}.npz")
        want = brute(t)
        n = len(set(t.writer.tolist()))
        assert rows[name][1:] == cells(n, want), name
        nproc += n
        for c in sh.COLS:
            total[c] += want[c]
    assert rows["total"][1:] == cells(nproc, total)
    # the parent's writes come before none of sqlite's child's faults
    assert rows["sqlite_snapshot"][4] == "0.0%" and rows["sqlite_snapshot"][6] == "0.0%"


@pytest.mark.parametrize("args, field", [(["--traces", "nope"], "--traces"),
                                         (["--corpus", "/nonexistent/dir"], "--corpus")])
def test_bad_arguments(args: list[str], field: str, tmp_path: Path) -> None:
    err = run_experiment("sibling_history", *args, tmp=tmp_path, status=2, timeout=60)
    assert err.startswith(f"error: {field}"), err
