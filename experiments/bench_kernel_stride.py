"""Price of a strided precopy page in the module: strided windows against adjacent ones.

    python experiments/bench_kernel_stride.py                  # 6.1 and 6.12, k = 8 and 32
    python experiments/bench_kernel_stride.py --releases 6.1 --ks 4,8 --repeats 3
    python experiments/bench_kernel_stride.py --quick          # one small pass (CI)

One boot per kernel under TCG with the deterministic clock (``icount 0``: 1 ns = one guest
instruction, so the figures are instruction counts, not wall latency) and the module
parameter ``time_decisions=1`` (each decision timed with ktime, an empty interval beside it).
A GUARDED policy whose table asks k at the stride and exact-stream cells and 0 elsewhere
(``near = 1``: a gap of 2 or more is a stride or a miss, never a near stream), with a budget
that always affords its window (``budget_per_mille`` 1000, ``demand_ns`` 10^9) and
``stride_window: 1``, writes:

* *adjacent*: ``--cols`` blocks of pages 0, 2, 3, .. in order: after a block's first two
  faults every fault continues the stream exactly and copies page+1 .. page+k (the next
  fault is page+k+1);
* *strided at s* (16, 64, 520 by default; 520 > 512: every page of the window under another
  PMD, so each has its own page-table walk and, with proofs, its own PTE lock for the clean):
  a column sweep, ``--cols`` columns of ``2 + (k+1) * --windows`` rows at stride s, column
  after column (column c at page 2c). The first two faults of a column take k = 0 (no
  stride yet), then every fault sees the stride continuing and copies page+s .. page+k*s (the
  next fault is page+(k+1)s).

Every one of these runs is checked against the simulator (``simulate(fast=False)``: the same
faults, degrees and copies; the module equals it fault for fault, as
tests/kernel/test_kernel_target.py checks), and its window faults (demand faults that copied
k pages) against the rows its windows leave (a window that copied other pages would move the
next fault). The adjacent run has the column sweep's faults, decisions and copies one for
one. A
window fault's harness latency (trap, decision, the precopy task work) is what the cost model
prices as ``fault_ns + copy_ns + decide_program_ns.guarded + precopy_setup_ns + k *
precopy_ns`` (+ ``k * proof_clean_ns`` and the proof reads with proofs), and for a strided
window ``k * precopy_stride_ns`` more. Per (s, k, proof) it prints the mean window-fault
latency, and against the adjacent run at the same k (the median over repetitions of the
difference within each repetition): the run's whole extra fault time (the sum over all its
faults, so that where a refill of the per-CPU free lists lands does not matter) per window
fault and per copied page; the timed decisions' extra (the module's ``decide_ns`` net of the
clock, over the same decisions) per window fault: the page-table reads of page-s, -2s, -3s,
of the window and of its sentinel, and the later proof reads of its copies; and the rest per
copied page (the copy work: the precopy walk and, with proofs, the clean, one PTE lock per
PMD range). With two or more k, also the slope of the extra per window fault over k (per
copied page) and its intercept (per window fault).

The decision's extra on its own: the same column sweeps with a table of zeros (every page
faults, no window, a decision at every fault), ``stride_window`` 1 against 0, per strided
decision (a fault where the detector's stride continues: all but a column's first two). With
1 the decision reads page-s, page-2s, page-3s (the strided left evidence) and looks for its
sentinel down the column (page+s) rather than at page+1; with 0 it reads neither. Printed per
stride: the harness's difference (the runs' whole fault time) and the timed decisions'.

Each configuration runs ``--repeats`` times, interleaved (repetition, then configurations, in
an order shuffled per repetition with a fixed seed: the run before moves a run by what it
leaves in the free lists), after one discarded warm-up run; the spread [min..max] is the
range of the per-repetition figure. The suggested ``precopy_stride_ns`` is the dearest extra
per copied page (the whole extra, decision included) over the strides and proof settings at
the smallest k measured, rounded up (over several kernels: the dearest kernel's): the cost
model charges a strided window's extra only as ``precopy_stride_ns`` per page walked, and a
short window carries the decision's extra over fewer pages (a window of fewer pages than that
k, and a strided decision that copies nothing, pay more than it charges: printed, not
priced).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cowrl.cli import KERNEL_RELEASES, kernel_releases  # noqa: E402
from cowrl.errors import ConfigError, CowrlError  # noqa: E402
from cowrl.kernel.backend import run_session  # noqa: E402
from cowrl.kernel.jobs import RunRequest  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    KINDS,
    LEFT_BUCKETS,
    N_CELLS,
    RUN_BUCKETS,
    USE_BUCKETS,
    GuardedPolicy,
    cell_of,
)
from cowrl.traces.io import Trace  # noqa: E402

PROOF_OPTIONS = {"proof": 1, "proof_reads": 8, "proof_ttl": 16, "proof_backoff": 1}
"""The proof options of a ``proof = 1`` run (the ring's reads as guarded ships them)."""


def window_table(k: int) -> list[int]:
    """A GUARDED table asking ``k`` at the exact-stream and stride cells, 0 elsewhere."""
    t = [0] * N_CELLS
    for kind in (KINDS.index("exact"), KINDS.index("stride")):
        for r in range(RUN_BUCKETS):
            for left in range(LEFT_BUCKETS):
                for u in range(USE_BUCKETS):
                    t[cell_of(kind, r, left, u)] = k
    return t


def bench_policy(k: int, stride_window: int, proof: int, name: str) -> GuardedPolicy:
    """The table of :func:`window_table` with a budget that always affords its window."""
    return GuardedPolicy(table=window_table(k), degrees=(0, k) if k else (0,),
                         budget_per_mille=1000, demand_ns=10**9, near=1,
                         stride_window=stride_window, name=name,
                         **(PROOF_OPTIONS if proof else {}))


def column_sweep(s: int, rows: int, cols: int) -> Trace:
    """``cols`` columns of ``rows`` rows at stride ``s``, column after column; column ``c``
    starts at page ``2c`` (at ``c``, its first fault would continue the stream of the
    previous column's first fault exactly, and copy an adjacent window)."""
    pages = np.array([2 * c + r * s for c in range(cols) for r in range(rows)],
                     dtype=np.int64)
    return Trace(pages, rows * s, name=f"col{s}x{rows}x{cols}")


BLOCK_GAP = 64
"""Unwritten pages between the adjacent run's blocks."""


def adjacent_blocks(rows: int, cols: int, gap: int = BLOCK_GAP) -> Trace:
    """``cols`` blocks of ``rows`` written pages each, ``gap`` unwritten pages apart: a
    block writes its pages 0, 2, 3, .., ``rows`` in order. Its first two faults are misses
    (k = 0), as a column's first two (no stride yet), and every later one continues the
    stream exactly: so the adjacent run has the column sweep's faults, decisions and windows,
    one for one."""
    block = np.array([0, *range(2, rows + 1)], dtype=np.int64)
    pages = np.concatenate([c * (rows + 1 + gap) + block for c in range(cols)])
    return Trace(pages, cols * (rows + 1 + gap), name=f"adj{rows}x{cols}")


@dataclass(frozen=True)
class Config:
    """One configuration: stride ``s`` (1: the adjacent sequential writer), degree ``k``
    (0: the decision runs), ``stride_window``, ``proof``."""

    s: int
    k: int
    sw: int
    proof: int

    @property
    def label(self) -> str:
        return f"s{self.s}_k{self.k}_sw{self.sw}_p{self.proof}"


def configs(strides: list[int], ks: list[int], proofs: list[int]) -> list[Config]:
    out = [Config(s, k, 1, p) for p in proofs for k in ks for s in [1, *strides]]
    out += [Config(s, 0, sw, 0) for s in strides for sw in (0, 1)]
    return out


def trace_of(c: Config, windows: int, cols: int, rows0: int) -> Trace:
    if c.k == 0:
        return column_sweep(c.s, rows0, cols)
    rows = 2 + (c.k + 1) * windows
    return adjacent_blocks(rows, cols) if c.s == 1 else column_sweep(c.s, rows, cols)


def simulated(c: Config, trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's (degree, copies) of each demand fault of ``c`` on ``trace``."""
    from cowrl.registry import make_costmodel
    from cowrl.sim.simulator import simulate

    _, ev = simulate(trace, bench_policy(c.k, c.sw, c.proof, c.label), make_costmodel("tcg"),
                     record_events=True, fast=False)
    return np.asarray(ev.k, dtype=np.int64), np.asarray(ev.precopied, dtype=np.int64)


def window_rows_ok(pages: np.ndarray, c: Config, windows: int) -> bool:
    """The window faults of a run of ``c`` at the rows its windows leave: row 2 of a column
    and every (k+1)-th after (stride s), offset 3 of a block and every (k+1)-th after
    (adjacent). A window copying other pages than intended moves the next fault off them."""
    rows = 2 + (c.k + 1) * windows
    at = pages % (rows + 1 + BLOCK_GAP) - 3 if c.s == 1 else pages // c.s - 2
    return bool(np.all((at >= 0) & (at % (c.k + 1) == 0)))


def strided_decisions(pages: np.ndarray) -> int:
    """Faults of a run without windows (every write faults) at which the stride detector
    sees its stride continuing: ``delta == previous delta >= 2``."""
    d = np.diff(np.asarray(pages, dtype=np.int64))
    return int(((d[1:] == d[:-1]) & (d[1:] >= 2)).sum())


def run_figures(rec: Any, ev: Any, c: Config, expect: tuple[np.ndarray, np.ndarray],
                windows: int) -> dict[str, float]:
    """One run's figures: the mean harness latency of its window faults (all faults for
    k = 0), the module's timed decisions net of the clock (their mean over all the run's
    decisions), the counts. CowrlError where the module decided otherwise than the simulator
    or did not time its decisions."""
    k_sim, cp_sim = expect
    if ev is None or not np.array_equal(ev.degree, k_sim) or not np.array_equal(
            ev.precopied, cp_sim):
        raise CowrlError(f"{c.label}: the module's faults differ from the simulator's "
                         f"({rec.faults} faults, {rec.precopied} copies; simulator "
                         f"{k_sim.size}, {int(cp_sim.sum())})")
    f = np.asarray(rec.fault_ns, dtype=np.float64)
    sel = (cp_sim == c.k) if c.k else np.ones(f.size, dtype=bool)
    if c.k and not window_rows_ok(np.asarray(ev.page)[sel], c, windows):
        raise CowrlError(f"{c.label}: window faults off the sweep's rows (a window that was "
                         "not the one intended)")
    if f.size != k_sim.size or not sel.any() or rec.extra.get("decisions") != f.size \
            or not rec.extra.get("decide_avg_ns"):
        raise CowrlError(f"{c.label}: {f.size} timed faults, {int(sel.sum())} window faults, "
                         f"{rec.extra.get('decisions')} timed decisions")
    return {"fault": float(f[sel].mean()), "cow": float(f.sum()), "n": int(sel.sum()),
            "faults": int(f.size),
            "copies": int(rec.precopied), "strided": strided_decisions(ev.page) if not c.k
            else int(sel.sum()) if c.s > 1 else 0,
            "decide": float(rec.extra["decide_avg_ns"] - rec.extra["decide_clock_avg_ns"])}


def shuffled(cfgs: list[Config], rep: int) -> list[Config]:
    """Repetition ``rep``'s order of the configurations: as given for the first, then a
    shuffle seeded by ``rep`` (a run's predecessor moves it: the free lists it leaves)."""
    out = list(cfgs)
    if rep:
        random.Random(rep).shuffle(out)
    return out


def paired(a: list[dict[str, float]], b: list[dict[str, float]], key: str, div: float = 1.0
           ) -> tuple[float, float, float]:
    """(median, min, max) over repetitions of (b - a) / div within each repetition."""
    return _mm([(y[key] - x[key]) / div for x, y in zip(a, b, strict=True)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="6.1,6.12")
    ap.add_argument("--strides", default="16,64,520")
    ap.add_argument("--ks", default="8,32", help="window degrees (each in 1..64)")
    ap.add_argument("--proofs", default="0,1", help="proof settings to run (0, 1 or both)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--windows", type=int, default=4, help="strided windows per column")
    ap.add_argument("--cols", type=int, default=8,
                    help="columns per sweep (at most half the smallest stride)")
    ap.add_argument("--rows0", type=int, default=24,
                    help="rows per column of the decision runs (k = 0)")
    ap.add_argument("--quick", action="store_true",
                    help="one small pass: strides 16,520, k = 8, proof 1, 1 repetition, "
                    "2 columns of 2 windows")
    args = ap.parse_args(argv)
    releases = kernel_releases(args.releases)
    if args.quick:
        args.strides, args.ks, args.proofs = "16,520", "8", "1"
        args.repeats, args.windows, args.cols, args.rows0 = 1, 2, 2, 12
    strides = [_int(x, "--strides", 2) for x in args.strides.split(",")]
    ks = sorted({_int(x, "--ks", 1, 64) for x in args.ks.split(",")})
    proofs = sorted({_int(x, "--proofs", 0, 1) for x in args.proofs.split(",")})
    for name in ("repeats", "windows", "cols", "rows0"):
        _int(str(getattr(args, name)), f"--{name}", 1 if name != "rows0" else 4)
    if 2 * args.cols > min(strides):
        raise ConfigError(f"--cols: {args.cols} columns overlap at stride {min(strides)}")
    cfgs = configs(strides, ks, proofs)
    traces = {c: trace_of(c, args.windows, args.cols, args.rows0) for c in cfgs}
    expect = {c: simulated(c, traces[c]) for c in cfgs}
    prices: list[float] = []
    for rel in releases:
        reqs = [RunRequest(traces[cfgs[0]], bench_policy(cfgs[0].k, 1, cfgs[0].proof, "warmup"),
                           label="warmup")]
        order = [c for r in range(args.repeats) for c in shuffled(cfgs, r)]
        reqs += [RunRequest(traces[c], bench_policy(c.k, c.sw, c.proof, c.label), label=c.label)
                 for c in order]
        s = run_session(reqs, {"kernel_release": KERNEL_RELEASES[rel], "icount": 0,
                               "module_params": "time_decisions=1"}, progress=True)
        if str(s.records[1].extra.get("icount")) in ("off", "auto", "unknown"):
            raise CowrlError(f"Linux {rel}: the guest clock is {s.records[1].extra['icount']!r}, "
                             "not icount: no instruction-ns")
        by: dict[Config, list[dict[str, float]]] = {c: [] for c in cfgs}
        for c, rec, ev in zip(order, s.records[1:], s.events[1:], strict=True):
            by[c].append(run_figures(rec, ev, c, expect[c], args.windows))
        prices.append(report(s.info["kernel_release"], by, strides, ks, proofs, args))
    if len(prices) > 1:
        print(f"== suggested tcg precopy_stride_ns over {len(prices)} kernels: "
              f"{math.ceil(max(prices))} (the dearest)")
    return 0


def report(release: str, by: dict[Config, list[dict[str, float]]], strides: list[int],
           ks: list[int], proofs: list[int], args: argparse.Namespace) -> float:
    """Print one kernel's figures; returns its suggested ``precopy_stride_ns``."""
    print(f"== Linux {release} (TCG, icount 0: instruction-ns), {args.repeats} interleaved "
          f"repetitions, {args.cols} columns x {args.windows} windows; median over "
          "repetitions [min..max]")
    print("  window faults (those that copied k pages): their mean harness latency; against "
          "the adjacent run at the same k and proof (within each repetition; both runs have "
          "the same faults, decisions and copies): the run's whole extra fault time per window "
          "fault and per copied page, the timed decisions' extra per window fault, and the rest "
          "(the copy work: extra less decision) per copied page")
    print(f"  {'s':>4} {'k':>3} {'proof':>5} {'faults':>6} {'windows':>7} {'fault ns':>9} "
          f"{'extra/fault':>22} {'extra/page':>20} {'decision/window':>20} "
          f"{'copy work/page':>20}")
    worst = -math.inf
    for p in proofs:
        for k in ks:
            adj = by[Config(1, k, 1, p)]
            print(f"  {'adj':>4} {k:3d} {p:5d} {adj[0]['faults']:6d} {adj[0]['n']:7d} "
                  f"{statistics.median(x['fault'] for x in adj):9.0f}")
            for s in strides:
                st = by[Config(s, k, 1, p)]
                # the same decisions in both runs but the window faults' (adjacent_blocks):
                # the mean's difference over all decisions, per window fault
                dec = [(y["decide"] - x["decide"]) * y["faults"] / y["n"]
                       for x, y in zip(adj, st, strict=True)]
                n = st[0]["n"]
                work = [(y["cow"] - x["cow"]) / n / k - d / k
                        for x, y, d in zip(adj, st, dec, strict=True)]
                pp = paired(adj, st, "cow", n * k)
                if k == ks[0]:
                    worst = max(worst, pp[0])
                print(f"  {s:4d} {k:3d} {p:5d} {st[0]['faults']:6d} {st[0]['n']:7d} "
                      f"{statistics.median(x['fault'] for x in st):9.0f} "
                      f"{_fmt(paired(adj, st, 'cow', n)):>22} {_fmt(pp, 1):>20} "
                      f"{_fmt(_mm(dec)):>20} {_fmt(_mm(work), 1):>20}")
    if len(ks) > 1:
        k1, k2 = ks[0], ks[-1]
        print(f"  per copied page from k = {k1} to {k2} (the slope of the extra per window "
              "fault) and what is left per window fault (the intercept):")
        for p in proofs:
            for s in strides:
                d1, d2 = _diffs(by, s, k1, p), _diffs(by, s, k2, p)
                slope = [(b - a) / (k2 - k1) for a, b in zip(d1, d2, strict=True)]
                icpt = [a - k1 * b for a, b in zip(d1, slope, strict=True)]
                print(f"    s {s:4d} proof {p}: {_fmt(_mm(slope), 1)} per page, "
                      f"{_fmt(_mm(icpt))} per window fault")
    print("  the decision alone (a table of zeros: every page faults, no window), "
          "stride_window 1 against 0 on the same column sweep; the extra per strided decision "
          "(page-s, -2s, -3s read, the sentinel looked for at page+s)")
    for s in strides:
        off, on = by[Config(s, 0, 0, 0)], by[Config(s, 0, 1, 0)]
        n, m = on[0]["faults"], on[0]["strided"]
        fa = paired(off, on, "cow", m)
        de = paired(off, on, "decide", m / n)
        print(f"    s {s:4d}: {n} faults, {m} strided; fault "
              f"{statistics.median(x['fault'] for x in off):.0f} -> "
              f"{statistics.median(x['fault'] for x in on):.0f} ns; extra per strided decision "
              f"{_fmt(fa)} (harness), {_fmt(de)} (timed, net of the clock)")
    print(f"  suggested tcg precopy_stride_ns: {math.ceil(worst)} (the dearest extra per copied "
          f"page at k = {ks[0]}, its decision included: {worst:.1f})")
    return worst


def _diffs(by: dict[Config, list[dict[str, float]]], s: int, k: int, p: int) -> list[float]:
    """The extra per window fault of stride ``s`` over adjacent, per repetition."""
    adj, st = by[Config(1, k, 1, p)], by[Config(s, k, 1, p)]
    return [(y["cow"] - x["cow"]) / y["n"] for x, y in zip(adj, st, strict=True)]


def _mm(xs: list[float]) -> tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def _fmt(t: tuple[float, float, float], nd: int = 0) -> str:
    return f"{t[0]:+.{nd}f} [{t[1]:+.{nd}f}..{t[2]:+.{nd}f}]"


def _int(v: str, name: str, lo: int, hi: int | None = None) -> int:
    try:
        x = int(v)
    except ValueError:
        raise ConfigError(f"{name}: expected whole numbers, got {v!r}") from None
    if x < lo or (hi is not None and x > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{name}: {x} is outside {rng}")
    return x


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
