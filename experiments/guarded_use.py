"""What ``guarded``'s ``use`` dimension measures on a trace: cells, sentinels and proofs.

    python experiments/guarded_use.py [--traces data/traces/cpython_prefork.npz ...] \
        [--costmodel seed_table1] [--options '{"use_proof": 1}'] [--align 4] \
        [--tables T.json ...] [--holdout app:cpython]

Replays each trace (the recorded corpus by default: cpython_prefork and its gc.freeze
variant) under the shipped ``guarded`` (conf/policy/guarded.yaml, its options plus
``--options``) and under a table of ``ALIGN | --align`` in every cell (only the budget
decides), and under each table of ``--tables`` (a JSON list of 320 values, as
``experiments/generalization_study.py --save-tables`` writes it); prints per run: objective /
baseline; the share of faults per cell (top 8)
and per use bucket of each class; the class's ``use`` (fixed point 256) at every tenth of
the run; sentinel hits and misses per class, split by whether the sentinel's window copied
pages (``k > 0``) or was a probe (``k = 0``); and the fate of every copied page in the proof
ring: proven, expired (``proof_ttl`` unproven reads), overwritten (the ring wrapped) or still
in the ring at the end, with the pages later written (from the trace: used) among each.
With ``--holdout app:NAME`` it also learns the table ``experiments/guarded_lofo.py`` learns
for that held-out application (48 randomized training draws of seed 0 plus the recorded
corpus without the application, 2 passes, the options above), replays the traces under it,
and prints, for the 4 cells the first trace visits most under it, the summed hindsight
reward (``arm_rewards``, per trace divided by its baseline, in % of a trace) of a few arms
per training source (family or recording) and on the trace itself: what the learned value
of each cell rests on. Diagnosis only: nothing here is chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.generalization import corpus_train_files, train_traces  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.base import FaultContext  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    ALIGN,
    N_CELLS,
    PROOFS,
    SENTINELS,
    STREAM,
    Cell,
    GuardedContext,
    GuardedPolicy,
    arm_rewards,
    describe_cell,
    describe_value,
    learn_table,
    shipped_options,
)
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

CLS = ("stream", "other")
CORPUS = Path(__file__).resolve().parent.parent / "data" / "traces"
ARMS = (1, 4, 8, 64, ALIGN | 4, ALIGN | 8)


class Probe(GuardedPolicy):
    """The shipped decisions, with counters (the decisions are not changed)."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.cells: list[int] = []
        self.use_log: list[tuple[int, int]] = []
        self.sent: Counter[tuple[str, str, str]] = Counter()  # (class, probe|window, hit|miss)
        self.owner = [-1] * PROOFS  # class of the window that copied the ring entry
        self.fate: Counter[tuple[str, str]] = Counter()  # (class, fate) -> pages
        self.fate_pages: dict[tuple[str, str], list[int]] = {}

    def _fate(self, cls: int, what: str, page: int) -> None:
        self.fate[(CLS[cls], what)] += 1
        self.fate_pages.setdefault((CLS[cls], what), []).append(page)

    def fault_cell(self, ctx: FaultContext) -> Cell:
        g = self.ctx
        before = list(g.proof_page)
        t = (ctx.page - ctx.region_start) & (SENTINELS - 1)
        tag, pages = g.tags[t], g.tag_pages[t]
        c = super().fault_cell(ctx)
        for i in range(PROOFS):
            if before[i] and not g.proof_page[i]:
                self._fate(self.owner[i], "proven" if ctx.page_state is not None
                           and ctx.page_state[before[i] - 1] == 2 else "expired",
                           before[i] - 1)
        if g.hit:
            self.sent[(CLS[tag & 1], "window" if pages else "probe", "hit")] += 1
        self.cells.append(c.cell)
        self.use_log.append((g.use[0], g.use[1]))
        return c

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        g = self.ctx
        before = list(g.proof_page)
        tags = list(g.tags)
        tag_pages = list(g.tag_pages)
        misses = list(g.misses)
        k = super().act(c, ctx, want)
        for i in range(PROOFS):
            if g.proof_page[i] != before[i]:
                if before[i]:
                    self._fate(self.owner[i], "overwritten", before[i] - 1)
                self.owner[i] = c.cls
        changed = [t for t in range(SENTINELS)
                   if (g.tags[t], g.tag_pages[t]) != (tags[t], tag_pages[t])]
        for cls in (0, 1):  # an evicted sentinel (the slot this fault's sentinel took)
            for _ in range(g.misses[cls] - misses[cls]):
                kind = "window" if changed and tag_pages[changed[0]] else "probe"
                self.sent[(CLS[cls], kind, "miss")] += 1
        return k

    def finish(self) -> None:
        for i in range(PROOFS):
            if self.ctx.proof_page[i]:
                self._fate(self.owner[i], "in ring", self.ctx.proof_page[i] - 1)


def report(t: Trace, name: str, pol: Probe, cost: Any, base: float) -> None:
    pol.trace_log = []  # the Python decisions at every fault (no compiled replay)
    rec = simulate(t, pol, cost)
    pol.finish()
    r = objective(rec, 1.0, cost.page_cost_ns) / base
    n = len(pol.cells)
    print(f"\n== {t.name}, {name}: {r:.4f} x baseline, {n} faults, {rec.precopied} copied, "
          f"{rec.wasted} wasted, budget granted {pol.granted} ns")
    cnt = Counter(pol.cells)
    print("  cells: " + ", ".join(f"{describe_cell(c)} {v / n:.0%}"
                                  for c, v in cnt.most_common(8)))
    for cls in (0, 1):
        ub = Counter(min(u[cls] >> 6, 3) for u, c in zip(pol.use_log, pol.cells, strict=True)
                     if (c // 80 in (1, 2)) == (cls == STREAM))
        tot = sum(ub.values()) or 1
        print(f"  {CLS[cls]} faults by use bucket: "
              + " ".join(f"use{b} {ub[b] / tot:.0%}" for b in range(4)) + f" (of {tot})")
    idx = [int(i * (n - 1) / 10) for i in range(11)] if n else []
    print("  use[stream], use[other] at tenths: "
          + " ".join(f"{pol.use_log[i][0]}/{pol.use_log[i][1]}" for i in idx))
    print("  sentinels (class, window|probe): " + ", ".join(
        f"{c}/{w} {pol.sent[(c, w, 'hit')]} hit {pol.sent[(c, w, 'miss')]} miss"
        for c in CLS for w in ("window", "probe")))
    last = np.full(t.n_pages, -1, dtype=np.int64)
    last[t.pages] = np.arange(t.writes)
    written = last >= 0
    print("  copied pages by fate (class: fate pages [later written]): " + ", ".join(
        f"{c}: {f} {pol.fate[(c, f)]} [{int(written[pol.fate_pages[(c, f)]].sum())}]"
        for c in CLS for f in ("proven", "expired", "overwritten", "in ring")
        if pol.fate[(c, f)]))


def arm_sums(traces: list[Trace], probe: Trace, table: list[int], kw: dict[str, Any],
             cost: Any) -> None:
    """Per training source and on ``probe``: the summed hindsight reward of :data:`ARMS` in
    the 4 cells ``probe`` visits most under ``table``."""
    acc: dict[tuple[int, str], np.ndarray] = {}
    n: Counter[tuple[int, str]] = Counter()
    top: list[int] = []
    for t in [probe, *traces]:
        pol = GuardedPolicy.for_cost(cost, table=table, **kw)
        pol.trace_log = []
        simulate(t, pol, cost)
        log = pol.trace_log
        if not log:
            continue
        if not top:
            top = [c for c, _ in Counter(e[1] for e in log).most_common(4)]
        r = arm_rewards(t, pol.priced(cost), 1.0, log, ARMS) / (
            cost.demand_ns * np.unique(t.pages).size)
        src = f"{t.name} (this trace)" if t is probe else str(t.meta.get("family", t.name))
        for e, ev in enumerate(log):
            if ev[1] in top:
                key = (ev[1], src)
                acc[key] = acc.get(key, 0.0) + r[e]
                n[key] += 1
    names = [str(a) if a <= 64 else f"align{a - ALIGN}" for a in ARMS]
    for c in top:
        print(f"  cell {describe_cell(c)} (table: {describe_value(table[c])}), summed "
              "reward in % of a trace:")
        for (cc, src), v in sorted(acc.items(), key=lambda kv: kv[0][1]):
            if cc == c:
                print(f"    {src:<28} faults {n[(cc, src)]:>6} " + " ".join(
                    f"{a}:{100 * x:+.2f}" for a, x in zip(names, v, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", nargs="+", default=["data/traces/cpython_prefork.npz",
                                                   "data/traces/cpython_prefork_freeze.npz"])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--options", default="{}", help="JSON: options over the shipped ones")
    ap.add_argument("--align", type=int, default=4, help="G of the all-align table")
    ap.add_argument("--tables", type=Path, nargs="*", default=[])
    ap.add_argument("--holdout", default=None,
                    help="app:NAME: also the table learned without that application")
    args = ap.parse_args()
    cost = make_costmodel(args.costmodel)
    shipped = make_policy("guarded")
    assert isinstance(shipped, GuardedPolicy)
    kw = {**shipped_options(), **json.loads(args.options)}
    tables = {"shipped table": list(shipped.table), f"align{args.align} everywhere":
              [ALIGN | args.align] * N_CELLS}
    for p in args.tables:
        tables[p.name] = [int(v) for v in json.loads(p.read_text())]
    train: list[Trace] = []
    if args.holdout:
        train = train_traces([], 0, 48)
        train += [load_trace(f) for f in corpus_train_files(args.holdout, CORPUS)]
        tables[f"learned without {args.holdout}"] = list(
            learn_table(train, [cost], seed=0, passes=2, **kw)["table"])
    for path in args.traces:
        t = load_trace(path)
        base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
        for tname, table in tables.items():
            pol = Probe.for_cost(cost, table=table, **kw)
            assert isinstance(pol, Probe) and isinstance(pol.ctx, GuardedContext)
            report(t, f"{tname}, {args.costmodel}, {json.dumps(kw, sort_keys=True)}", pol,
                   cost, base)
    if args.holdout:
        print(f"\n== what the table learned without {args.holdout} rests on")
        arm_sums(train, load_trace(args.traces[0]), tables[f"learned without {args.holdout}"],
                 kw, cost)


if __name__ == "__main__":
    main()
