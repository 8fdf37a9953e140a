"""Allocator pools and short runs under the shipped ``guarded``: where the gain of the best
fixed k is lost, strided against adjacent windows there, and budget-sharing rules (a
simulator study, session 31; docs/results/alloc-pool-s31.md).

    python experiments/alloc_budget.py diagnose [--families alloc_pool short_runs] \
        [--first 2000] [--draws 8] [--costmodels seed_table1 host] [--cells 10] [--tables DIR]
    python experiments/alloc_budget.py learn --out DIR [--families alloc_pool short_runs]
    python experiments/alloc_budget.py measure [--first 2000] [--draws 8] [--families ...] \
        [--policies guarded earn16 ...] [--per-trace]
    python experiments/alloc_budget.py bound [--policies earn16]
    ... --quick   (1 draw, host only: the test's setting)

Development draws only (``g.randomized(first + d, 0, families=F)``, seeds 2000+; the judged
run of the declared rule seeds 3000+); never the protocol's held-out sets, the validation
traces nor the recorded apps.

``diagnose``: per draw, the shipped ``guarded`` (conf/policy/guarded.yaml, strided windows)
and ``guarded_adjacent`` (the same options with ``stride_window: 0`` and the previous table),
both probed (experiments/dense_budget.py's :class:`Probe`: counters only, the decisions
checked against the compiled program's objective), ``hindsight`` (block_rule.py's: the
shipped budget asked at each fault for the run of pages the trace writes later, a proposal
no rule can beat), the best fixed k and the oracle. Then per family and policy: the gain,
the windows (asked by the table, full, cut smaller or to nothing by the budget, closed by
the floor), the budget's ledger in demand faults (dense_budget.py's), the copies' fates
(proven, overwritten unproven, pending; each split by whether the trace writes the page
later), the pages copied and their used share against the break-even share of the budget's
prices, and the ``--cells`` cells with the most faults: the value the table asks there, the
faults, the windows asked / full / cut / none / floor, the pages copied and their used share.
For the strided default also the windows the stride detector made strided, their copies and
their used share, and per draw the difference to the adjacent policy. ``--tables DIR``: each
study's table learned without the draw's family (``learn``: as the protocol's job for
training seed 0 learns it, on its training draws and the recorded corpus), as the held-out
protocol measures a family.

``measure``: per family and pooled gain, worst draw, pages copied on random / sparse, of
``--policies``: ``guarded``, ``guarded_adjacent``, ``guarded_sw0`` / ``guarded_adjacent_sw1``
(one table with the other's windows: the 2 x 2 of table and ``stride_window``), and the
rules (:func:`rule`; each over the shipped table and options, each only shrinking the window
asked, so the budget's bound is unchanged): ``halve`` (a cell that lost a page's stake net
asks half its window), ``shareM`` (a window may stake at most ``budget // M``, else one
page), ``gateM`` (the same for cells that lost net), ``earnM`` (for cells that have not yet
earned). For each rule the verdict of the rule declared before the judged run against
``guarded`` (module constants ``MARGIN`` ...; ``earn16`` was declared). ``bound``:
block_rule.py's harness (objective - objective with a table of zeros - allowances <= 1 ns a
page) for the rules, tables of 64s and 1s.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import block_rule as br  # noqa: E402  (the draws, the measure grid, the bound harness, hindsight)
from dense_budget import LEDGER, QUIET, Probe, decides_as_compiled, fates, ratio  # noqa: E402
from dense_budget import build as probe_build  # noqa: E402

from cowrl.cli import output_dir  # noqa: E402
from cowrl.devdraws import add_draw_arguments, check_draws, development_draws  # noqa: E402
from cowrl.errors import ConfigError, read_json  # noqa: E402
from cowrl.metrics import geomean_gain, objective  # noqa: E402
from cowrl.policies import guarded as gp  # noqa: E402
from cowrl.policies.best_static import BestStatic  # noqa: E402
from cowrl.policies.oracle import Oracle  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

STUDIES = ("guarded", "guarded_adjacent")  # the conf/policy files compared (strided, adjacent)
MAX_SHIFT = 6  # a cell's window asked is halved at most 6 times (64 -> 1)
# the rule declared before the judged run (docs/results/alloc-pool-s31.md): pooled gain >= the
# reference's + MARGIN point, no family below it by more than FAMILY_LOSS point, worst draw <=
# WORST x baseline, pages copied on random / sparse <= the reference's + QUIET_SLACK
MARGIN, FAMILY_LOSS, WORST, QUIET_SLACK = 0.3, 0.3, 1.010, 2


class Ledger(Probe):
    """:class:`Probe` with a ledger per cell of its own copies' fates, read from the proof ring
    as the budget reads it: a proof ``+gain``, an entry that leaves unproven (expired or
    overwritten) ``-loss``. The rules below read it; none credits the budget."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.ledger = [0] * len(self.table)
        self.shifts: Counter[str] = Counter()

    def _leave(self, i: int, fate: str) -> None:
        cell = self.cell_of_copy[self.born[i][2]]
        super()._leave(i, fate)
        self.ledger[cell] += self.gain if fate == "proven" else -self.loss
        self.settle(cell)

    def settle(self, cell: int) -> None:
        """After a change of ``cell``'s ledger."""


class Halve(Ledger):
    """``halve`` (screened on the development draws): a cell whose ledger falls below
    ``-loss`` (its copies lost more than a page's stake net of what they saved) asks half the
    window from then on (its shift grows by one, at most :data:`MAX_SHIFT`, the ledger
    restarts at 0); one whose ledger reaches ``+loss`` gets a halving back. Only the window
    asked changes (``want >> shift``, at least 1)."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.shift = [0] * len(self.table)

    def settle(self, cell: int) -> None:
        if self.ledger[cell] < -self.loss and self.shift[cell] < MAX_SHIFT:
            self.shift[cell] += 1
            self.ledger[cell] = 0
            self.shifts["down"] += 1
        elif self.ledger[cell] >= self.loss and self.shift[cell]:
            self.shift[cell] -= 1
            self.ledger[cell] = 0
            self.shifts["up"] += 1

    def degree(self, c: gp.Cell, page: int, limit: int, want: int | None = None,
               start: int = 0, vpn: int | None = None) -> tuple[int, int]:
        s = self.shift[c.cell]
        if s:
            w = br.window_asked(self, c, page, want, vpn)
            want = max(w >> s, 1) if w > 0 else 0
        return super().degree(c, page, limit, want, start, vpn)


class Share(Ledger):
    """``shareM``, ``gateM``, ``earnM``: a window of a restricted cell may stake at most
    ``budget // M`` (the largest degree <= the value asked that fits it), else a window of
    one page from the whole budget. Restricted: every cell (``share``), a cell whose ledger
    is negative (``gate``: it lost net), or not positive (``earn``: it has not yet earned;
    every cell starts so). ``earn16`` is the candidate declared before the judged run
    (docs/results/alloc-pool-s31.md). The budget decides as before on a smaller stake, so
    the loss over ``k = 0`` stays within the allowances."""

    m, mode = 4, "share"

    def degree(self, c: gp.Cell, page: int, limit: int, want: int | None = None,
               start: int = 0, vpn: int | None = None) -> tuple[int, int]:
        led = self.ledger[c.cell]
        if self.mode == "gate" and led >= 0 or self.mode == "earn" and led > 0:
            return super().degree(c, page, limit, want, start, vpn)
        b = self.budget
        self.budget = b // self.m
        try:
            k, copied = super().degree(c, page, limit, want, start, vpn)
        finally:
            self.budget = b
        w = self.table[c.cell] if want is None else want
        if k == 0 and w > 0:
            self.shifts["one page"] += 1
            return super().degree(c, page, limit, 1, start, vpn)
        return k, copied


def rule(name: str) -> type[Ledger] | None:
    """The rule class of ``name`` (``halve``, ``shareM``, ``gateM``, ``earnM``; M >= 2),
    else None."""
    if name == "halve":
        return Halve
    m = re.fullmatch(r"(share|gate|earn)(\d+)", name)
    if m and int(m.group(2)) >= 2:
        return type(name, (Share,), {"m": int(m.group(2)), "mode": m.group(1)})
    return None


def build(name: str, cost: CostModel, table: list[int] | None = None) -> gp.GuardedPolicy:
    """``guarded`` / ``guarded_adjacent`` (probed), or a rule of :func:`rule` over the
    shipped ``guarded``'s table (or ``table``) and options."""
    if name in STUDIES:
        return probe_build("guarded", cost, name)
    if name in SWAPPED:  # one study's table with the other's windows (stride_window swapped)
        study, other = SWAPPED[name]
        return Probe.for_cost(cost, table=list(make_policy(study).table),
                              **gp.shipped_options(other))
    cls = rule(name)
    if cls is None:
        raise ConfigError(f"--policies: unknown policy {name!r} (guarded, guarded_adjacent, "
                          "guarded_sw0, guarded_adjacent_sw1, halve, shareM, gateM, earnM)")
    return cls.for_cost(cost, table=table or list(make_policy(STUDIES[0]).table),
                        **gp.shipped_options(STUDIES[0]))


DECLARED = "earn16"  # the candidate declared before the judged run
SWAPPED = {"guarded_sw0": STUDIES, "guarded_adjacent_sw1": STUDIES[::-1]}
"""The 2 x 2 of table and windows: (the table's study, the options' study)."""


def used(pol: Probe, t: Trace) -> np.ndarray:
    """For each copy of ``pol`` (its ``copies``, in order): whether the trace writes the
    page after the copy (single-region traces: page = the trace's page)."""
    last = np.full(t.n_pages, -1, dtype=np.int64)
    last[t.pages] = np.arange(t.writes)
    if not pol.copies:
        return np.zeros(0, dtype=bool)
    c = np.asarray(pol.copies, dtype=np.int64)
    return last[c[:, 0]] > c[:, 2]


def loo_table(tables: Path, study: str, cm: str, family: str) -> list[int]:
    """The table ``learn`` wrote for ``study`` under ``cm`` without ``family``."""
    f = tables / f"{study}_{cm}_no_{family}.json"
    if not f.is_file():
        raise ConfigError(f"--tables: no {f.name} in {tables} (write it with `learn`)")
    return [int(v) for v in read_json(f, "--tables")]


def learn(out: Path, costs: Sequence[str], families: Sequence[str]) -> None:
    """For each study, cost model and family: the table the protocol's job learns with that
    family held out (training seed 0: ``train_traces([family], 0, 48)`` plus the recorded
    corpus, ``learn_table`` with the study's options, 2 passes), as ``out/<study>_<cm>_no_
    <family>.json``. Training draws only (never the held-out test traces)."""
    from cowrl.generalization import corpus_train_files, train_learner, train_traces
    from cowrl.traces.io import load_trace

    out = output_dir(out, "--out")
    corpus = Path(__file__).resolve().parent.parent / "data" / "traces"
    for fam in families:
        train = train_traces([fam], 0, 48)
        train += [load_trace(f) for f in corpus_train_files(fam, corpus)]
        for cm in costs:
            for study in STUDIES:
                pol = train_learner(study, train, make_costmodel(cm), 1.0, 0, [fam])
                f = out / f"{study}_{cm}_no_{fam}.json"
                f.write_text(json.dumps([int(v) for v in pol.table]))
                print(f"{f} ({len(train)} training traces)", flush=True)


def diagnose(cost: CostModel, traces: list[tuple[str, Trace]], n_cells: int = 10,
             tables: Path | None = None) -> bool:
    """Per draw and per family (module docstring; ``tables``: each study's table learned
    without the draw's family, :func:`learn`); False if a probe changed a decision."""
    print(f"== {cost.name}")
    pol0 = probe_build("guarded", cost, STUDIES[0])
    be = gp.break_even(pol0.gain, pol0.loss)
    print(f"budget prices: loss {pol0.loss} ns, gain {pol0.gain} ns a page, allowance "
          f"{pol0.allowance} ns, demand fault {pol0.demand} ns: a copy pays if at least "
          f"{100 * be:.1f}% of them are used")
    ok = True
    rel: dict[tuple[str, str], list[float]] = {}
    agg: dict[tuple[str, str], Counter[str]] = {}
    cells: dict[tuple[str, str], dict[int, Counter[str]]] = {}
    for fam, t in traces:
        base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
        objs = BestStatic(lam=1.0).objectives(t, cost)
        best_k = min(objs, key=lambda k: (objs[k], k))
        row = {"best k": objs[best_k] / base,
               "oracle": objective(simulate(t, Oracle(lam=1.0), cost), 1.0,
                                   cost.page_cost_ns) / base}
        hs = br.build("hindsight", cost)
        row["hindsight"] = objective(simulate(t, hs, hs.priced(cost)), 1.0,
                                     cost.page_cost_ns) / base
        line = []
        for study in STUDIES:
            pol = probe_build("guarded", cost, study)
            if tables is not None:
                pol = Probe.for_cost(cost, table=loo_table(tables, study, cost.name, fam),
                                     **gp.shipped_options(study))
            assert isinstance(pol, Probe)
            r, rec = ratio(t, pol, cost, base)
            ok &= decides_as_compiled(t, pol, cost, study, base, r)
            row[study] = r
            u = used(pol, t)
            st = np.asarray(pol.strided, dtype=bool)
            a = agg.setdefault((fam, study), Counter())
            a.update(pol.led)
            a.update(pol.win)
            a["copied"] += len(u)
            a["used"] += int(u.sum())
            a["strided copies"] += int(st.sum())
            a["strided used"] += int(u[st].sum()) if len(u) else 0
            a["faults"] += len(pol.fault_wi)
            a.update(fates(pol, t)["fates"])
            a["engine wasted"] += rec.wasted
            cc = cells.setdefault((fam, study), {})
            for cell, cs in pol.cells.items():
                cc.setdefault(cell, Counter()).update(cs)
            for j, cell in enumerate(pol.cell_of_copy):
                cc[cell]["used"] += int(u[j])
            n_str = sum(cs["strided"] for cs in pol.cells.values())
            line.append(f"{study} {r:.4f} (copied {len(u)}, used {int(u.sum())}"
                        + (f"; strided windows {n_str}, copies {int(st.sum())}, used "
                           f"{int(u[st].sum()) if len(u) else 0}" if n_str else "") + ")")
        for k, v in row.items():
            rel.setdefault((fam, k), []).append(v)
        m = t.meta
        shape = ", ".join(f"{k} {m[k]:.2f}" if isinstance(m[k], float) else f"{k} {m[k]}"
                          for k in ("sizes", "density", "whole", "streams", "shuffle",
                                    "run_min", "run_max") if k in m)
        print(f"{fam} seed {m.get('sampler_seed')} ({shape}; {t.writes} writes, {t.n_pages} "
              f"pages): " + ", ".join(line) + f", hindsight {row['hindsight']:.4f}, best "
              f"k={best_k} {row['best k']:.4f}, oracle {row['oracle']:.4f}, strided - "
              f"adjacent {100 * (row[STUDIES[0]] - row[STUDIES[1]]):+.2f} point", flush=True)
    d = pol0.demand
    for fam in dict.fromkeys(f for f, _ in traces):
        print(f"-- {fam}: gain " + ", ".join(
            f"{n} {geomean_gain(rel[(fam, n)]):+.2f}%"
            for n in (*STUDIES, "hindsight", "best k", "oracle")))
        for study in STUDIES:
            a = agg[(fam, study)]
            print(f"   {study}: windows asked {a['asked']}, full {a['full']}, cut by the budget "
                  f"{a['budget, smaller']} smaller + {a['budget, none']} none, floor "
                  f"{a['floor']} ({a['faults']} faults); copied {a['copied']}, used "
                  f"{a['used']} ({100 * a['used'] / max(a['copied'], 1):.1f}%, break-even "
                  f"{100 * be:.1f}%), engine wasted {a['engine wasted']}"
                  + (f"; strided copies {a['strided copies']}, used {a['strided used']} "
                     f"({100 * a['strided used'] / max(a['strided copies'], 1):.1f}%)"
                     if a["strided copies"] else ""))
            print("      ledger (demand faults): " + ", ".join(
                f"{k} {a[k] / d:.1f}" for k in LEDGER))
            print("      fates: " + ", ".join(f"{k} {a[k]}" for k in sorted(a)
                                             if ", used" in k or ", never" in k)
                  + f"; lost proofs (used, unproven) {a['lost proofs']}")
            table = (list(probe_build("guarded", cost, study).table) if tables is None
                     else loo_table(tables, study, cost.name, fam))
            top = sorted(cells[(fam, study)].items(), key=lambda kv: -kv[1]["faults"])
            for cell, cs in top[:n_cells]:
                asks = gp.describe_value(table[cell])
                print(f"      {gp.describe_cell(cell):24} asks {asks!s:7} "
                      f"faults {cs['faults']:6} asked {cs['asked']:6} full {cs['full']:5} cut "
                      f"{cs['budget, smaller']:5}+{cs['budget, none']:5} floor {cs['floor']:5} "
                      f"copied {cs['copied']:6} used {cs['used']:6}"
                      + (f" strided windows {cs['strided']}" if cs["strided"] else ""))
    return ok


def measure(costs: Sequence[str], traces: list[tuple[str, Trace]], names: Sequence[str],
            per_trace: bool = False) -> bool:
    """Per family and pooled gain, worst draw, pages copied on random / sparse, the shifts;
    the declared rule's verdict (module constants ``MARGIN`` ...) for each candidate of
    ``names`` against ``guarded``. True if every candidate named passes."""

    def count(cm: str, name: str, run: br.GridRun) -> Counter[str]:
        rec = run.rec
        if per_trace:
            print(f"   {cm} {name} {run.family} seed {run.trace.meta.get('sampler_seed')}: "
                  f"{run.ratio:.4f} copied {rec.precopied} wasted {rec.wasted}")
        tot: Counter[str] = Counter(copied=rec.precopied, wasted=rec.wasted,
                                    quiet=rec.precopied if run.family in QUIET else 0)
        tot.update(getattr(run.policy, "shifts", {}))
        return tot

    def summarize(cm: str, name: str, _rel: list[float], fam: dict[str, list[float]],
                  tot: Counter[str]) -> dict[str, Any]:
        rel = [r for v in fam.values() for r in v]
        print(f"{cm} {name:16} gain {geomean_gain(rel):+.2f}% worst {max(rel):.4f} copied "
              f"{tot['copied']} wasted {tot['wasted']} copied on random/sparse "
              f"{tot['quiet']}" + (f" shifts down {tot['down']} up {tot['up']}"
                                   if rule(name) is Halve else
                                   f" one-page windows {tot['one page']}"
                                   if rule(name) else ""), flush=True)
        return br.gains(rel, fam, quiet=tot["quiet"])

    res = br.grid(costs, traces, names, build, count, summarize,
               max(17, *(len(n) + 2 for n in names)), fast=False)
    ok_all = True
    ref_name = STUDIES[0]
    for name in (n for n in names if rule(n) and ref_name in names):
        checks = []
        for cm in costs:
            ref, r = res[cm][ref_name], res[cm][name]
            checks.append(br.pooled_check(cm, ref, r, MARGIN))
            checks.append(br.family_loss_check(cm, ref, r, FAMILY_LOSS))
            checks.append((f"{cm} worst {r['worst']:.4f}", r["worst"] <= WORST))
            checks.append(br.quiet_check(cm, ref, r, ref_name, QUIET_SLACK))
        ok_all &= br.verdict(f"{name} against {ref_name}", checks)
    return ok_all


def bound(costs: Sequence[str], names: Sequence[str]) -> bool:
    """objective - objective with a table of zeros - allowances granted (demand faults), per
    trace, tables of 64s and 1s (block_rule.py's harness): <= 1 ns a page everywhere = the
    bound holds (True). The traces: block_rule.py's and dense_budget.py's writers, two
    development draws each of alloc_pool and short_runs, and a writer that makes a cell pay
    and then stop paying (runs of 16 pages, then of 1, in turns)."""
    turns: list[int] = []
    for b, s in enumerate(range(0, 16384 - 64, 64)):
        turns += list(range(s, s + (16 if b % 8 < 4 else 1)))
    ts = [g.stride(n_pages=4096, stride=2, writes=2048),
          g.uniform(n_pages=4096, writes=4096, seed=1),
          g.interleaved(n_pages=4096, streams=3, seed=2),
          g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
          g.block_stride(n_pages=4096, block=6, gap=2, passes=2),
          br.page_trace("adv_turns", turns, 16384)]
    ts += [t for f in ("alloc_pool", "short_runs") for t in development_draws(f, 2)]
    return br.excess_check(costs, ts, names,
                           lambda name, k, cost: build(name, cost, [k] * gp.N_CELLS),
                           fast=False, ratio=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("what", choices=("diagnose", "measure", "bound", "learn"))
    ap.add_argument("--costmodels", nargs="+", default=None)
    ap.add_argument("--families", nargs="+", default=None)
    ap.add_argument("--draws", type=int, default=None)
    add_draw_arguments(ap, heldout=False)
    ap.add_argument("--cells", type=int, default=10, help="diagnose: cells shown per policy")
    ap.add_argument("--tables", type=Path, default=None,
                    help="diagnose: the tables `learn` wrote here (each study's, learned "
                         "without the draw's family) instead of the shipped ones")
    ap.add_argument("--out", type=Path, default=None, help="learn: where the tables go")
    ap.add_argument("--policies", nargs="+", default=None,
                    help=f"measure: default guarded {DECLARED}; bound: default {DECLARED}")
    ap.add_argument("--per-trace", action="store_true", help="measure: a line per draw")
    ap.add_argument("--quick", action="store_true", help="1 draw, host only")
    args = ap.parse_args()
    check_draws(args.draws)
    n = args.draws or (1 if args.quick else 8)
    costs = args.costmodels or (["host"] if args.quick else ["seed_table1", "host"])
    if args.what == "measure":
        fams = args.families or (["alloc_pool", "random"] if args.quick else list(g.FAMILIES))
        ts = br.draws(fams, args.first, n)
        return 0 if measure(costs, ts, args.policies or ["guarded", DECLARED],
                            args.per_trace) else 1
    if args.what == "learn":
        if args.out is None:
            raise ConfigError("--out: learn needs a directory for the tables")
        learn(args.out, costs, args.families or ["alloc_pool", "short_runs"])
        return 0
    if args.what == "bound":
        return 0 if bound(costs, args.policies or [DECLARED]) else 1
    ts = br.draws(args.families or ["alloc_pool", "short_runs"], args.first, n)
    if all([diagnose(make_costmodel(cm), ts, args.cells, args.tables) for cm in costs]):
        return 0
    print("PROBE CHANGED A DECISION")
    return 1


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
