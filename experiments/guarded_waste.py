"""Waste on uniform-random and sparse writes: which faults open windows there, and what the
shield options that the module already has (``grant_left``, ``floor``, ``protect``, ``merge``)
would cost elsewhere.

    python experiments/guarded_waste.py --costmodels seed_table1 host --tables reckless shipped \
        --options '{}' '{"grant_left": 3}' '{"floor": 192}' --diagnose

Development draws only (seeds 2000.., as experiments/guarded_ttl.py; never the protocol's
held-out draws, the validation traces nor the recorded applications): ``--draws`` fresh draws
of every generator family for the pooled figures, and ``--waste-draws`` draws of ``random``
and ``sparse`` (the first ``--draws`` of them are the pooled ones) for the waste, whose few
copies make it noisy. Every variant is the shipped budget (conf/policy/guarded.yaml's options,
``proof: 1`` and the rest) with the JSON ``--options`` on top, under a table: ``reckless``
(``k = 64`` in every cell: the shield alone decides, conf/policy/shield64.yaml) or ``shipped``
(conf/policy/guarded.yaml's learned table).

Per (cost model, table, option) it prints the gain over baseline (1 - geometric-mean objective
/ baseline) over the pooled draws, the worst draw against baseline, and, on the random and
sparse draws, pages precopied, wasted and their ratio (the issue's waste target: <= 1%).

``--diagnose`` (the first option of each table and cost model): every window that copied on the
random/sparse draws, with its fault (the fault's number in the run, the page), the cell
(kind/run/left/use), the degree asked and taken, the pages copied and how many of them the
trace never writes, the budget before the window, and how that budget was financed up to
then: allowances granted at sentinel hits and at dense-left faults (``grant_left``), and
credits from interior proofs (each: the copy's reserve and gain back); and the shield's state
at the decision: the class's ``use`` (its EWMA sentinel hit rate, of ``USE_ONE = 256``) before
and after this fault's own sentinel, its lifetime sentinel hits / misses, whether the fault's
allowance came from a sentinel hit or from ``left`` private neighbours, one page's reserve,
and the proof ring (live entries, pages proven so far).

``--jobs J.json ...`` adds the tables that ``experiments/generalization.py`` learned (each
job.json's ``tables``, ``guarded``), each under its own job's cost model only, as tables
``<holdout>-s<seed>``: measured on the development draws like the others. ``--heldout`` (with
``--diagnose``) only lists, for diagnosis, the windows those tables open on their jobs' own
held-out traces (the protocol's draws); nothing is chosen there (docs/policies.md, "The last
window on `random_0`").
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

from cowrl.devdraws import check_draws, development_draws  # noqa: E402
from cowrl.errors import ConfigError, parse_json  # noqa: E402
from cowrl.metrics import geomean_gain as gm_gain  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.base import FaultContext  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    N_CELLS,
    Cell,
    GuardedPolicy,
    describe_cell,
    shipped_options,
)
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402

WASTE_FAMILIES = ("random", "sparse")


class Diagnosed(GuardedPolicy):
    """``guarded`` with its decisions unchanged, logging what financed each window."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.fin: Counter[str] = Counter()  # ns granted / credited, by source
        self.windows: list[dict[str, Any]] = []
        self.faults = 0
        self.state: dict[str, Any] = {}
        self.first_page: tuple[int, int] | None = None  # (fault, use) budget >= a page's reserve

    def prove(self, ctx: FaultContext, start: int, limit: int) -> None:
        before = self.budget
        super().prove(ctx, start, limit)
        if self.budget > before:
            self.fin["proofs"] += self.budget - before  # net of the look's walk
        elif self.budget < before:
            self.fin["walk"] += before - self.budget  # the look's walk, no proof

    def fault_cell(self, ctx: FaultContext) -> Cell:
        granted = self.granted
        use0 = list(self.ctx.use)
        c = super().fault_cell(ctx)
        g = self.ctx
        grant = "none"
        if self.granted > granted:
            grant = "hit" if g.hit else "left"
            self.fin[grant] += self.granted - granted
        self.faults += 1
        if self.first_page is None and self.budget >= self.reserve(c.cls):
            self.first_page = (self.faults, g.use[c.cls])
        self.state = {"cls": ("stream", "other")[c.cls], "use_before": use0[c.cls],
                      "use": g.use[c.cls], "hits": g.hits[c.cls], "misses": g.misses[c.cls],
                      "hit": g.hit, "left": g.left, "grant": grant,
                      "ring_live": g.proof_live, "proven": g.proven}
        return c

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        before = self.budget
        asked = self.table[c.cell] if want is None else want
        limit = ctx.region_end if ctx.region_end > 0 else ctx.n_pages
        shared = [q for q in range(ctx.page + 1, min(ctx.page + 64, limit - 1) + 1)
                  if not self.ctx.private[q]]
        k = super().act(c, ctx, want)
        if k > 0:
            self.windows.append({
                "fault": self.faults, "page": ctx.page, "cell": describe_cell(c.cell),
                "asked": asked, "k": k, "budget": before, "fin": dict(self.fin),
                "pages": [q for q in shared if q <= ctx.page + k],
                "spent": before - self.budget, "reserve": self.reserve(c.cls),
                **self.state})
        return k


def window_line(t: Any, w: dict[str, Any]) -> str:
    """One window that copied pages, with the shield's state at its decision."""
    fin = ", ".join(f"{k} {v}" for k, v in sorted(w["fin"].items()))
    n = w["hits"] + w["misses"]
    return (f"   {t.meta.get('family', t.name)!s:<7} n={t.n_pages:<6} writes={len(t.pages):<6} "
            f"fault {w['fault']:<6} page {w['page']:<6} {w['cell']:<24} asked {w['asked']:<3} "
            f"k {w['k']:<2} copied {len(w['pages'])} wasted {w['wasted']} budget {w['budget']} "
            f"ns (financed: {fin}); reserve/page {w['reserve']}; class {w['cls']} use "
            f"{w['use_before']}->{w['use']} (floor compares the second), lifetime "
            f"{w['hits']}/{n} hits ({256 * w['hits'] // max(n, 1)}/256); allowance of this "
            f"fault: {w['grant']} (left {w['left']}); ring live {w['ring_live']}, proven "
            f"{w['proven']}")


def draws_of(families: Any, n: int) -> list[Any]:
    """``n`` development draws (seeds 2000..) of each family (experiments/guarded_ttl.py's)."""
    return [t for f in families for t in development_draws(f, n, named=False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--tables", nargs="+", default=["reckless", "shipped"],
                    choices=["reckless", "shipped"])
    ap.add_argument("--jobs", nargs="*", type=Path, default=[],
                    help="job.json files of experiments/generalization.py: their guarded "
                         "tables, each under its job's cost model")
    ap.add_argument("--heldout", action="store_true",
                    help="with --diagnose: also list the windows the --jobs tables open on "
                         "their jobs' held-out traces (diagnosis only)")
    ap.add_argument("--draws", type=int, default=2, help="development draws per family")
    ap.add_argument("--waste-draws", type=int, default=8,
                    help="development draws of random and sparse for the waste")
    ap.add_argument("--options", nargs="+", default=["{}"],
                    help="JSON objects: options over the shipped ones, one per variant")
    ap.add_argument("--per-family", action="store_true",
                    help="per family, the gain of each option (after each table)")
    ap.add_argument("--diagnose", action="store_true",
                    help="list the windows of the first option on the random/sparse draws")
    args = ap.parse_args()
    check_draws(args.draws)
    variants = []
    for text in args.options:
        variants.append((text, parse_json(text, "--options")))
    shipped = make_policy("guarded")
    assert isinstance(shipped, GuardedPolicy)
    tables = {"reckless": [64] * N_CELLS, "shipped": list(shipped.table)}
    # the protocol's tables, per cost model: {cost model: {table name: job}}
    jobs: dict[str, dict[str, dict[str, Any]]] = {}
    for path in args.jobs:
        try:
            job = json.loads(path.read_text())
            table = [int(v) for v in job["tables"]["guarded"]]
            jobs.setdefault(str(job["costmodel"]), {})[f"{job['holdout']}-s{job['seed']}"] = job
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"--jobs: {path} is no job.json with a guarded table ({e})") from e
        job["table"] = table
    pooled = draws_of(g.FAMILIES, args.draws)
    waste = draws_of(WASTE_FAMILIES, args.waste_draws)
    for name in args.costmodels:
        cost = make_costmodel(name)
        base = {id(t): objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                for t in [*pooled, *waste]}
        print(f"== {name}: {len(pooled)} pooled draws ({args.draws} per family), "
              f"{len(waste)} random/sparse draws for the waste", flush=True)
        own = jobs.get(name, {})  # this cost model's protocol tables
        for tname in [*args.tables, *own]:
            table = own[tname]["table"] if tname in own else tables[tname]
            per_family: list[dict[str, list[float]]] = []
            for i, (text, opt) in enumerate(variants):
                kw = {**shipped_options(), **opt}
                rel, fam_rel = [], {}
                for t in pooled:
                    pol = GuardedPolicy.for_cost(cost, table=table, **kw)
                    r = objective(simulate(t, pol, cost), 1.0, cost.page_cost_ns) / base[id(t)]
                    rel.append(r)
                    fam_rel.setdefault(str(t.meta.get("family")), []).append(r)
                worst = int(np.argmax(rel))
                per_family.append(fam_rel)
                pre = {f: [0, 0] for f in WASTE_FAMILIES}
                wins: list[tuple[Any, dict[str, Any]]] = []
                for t in waste:
                    cls = Diagnosed if args.diagnose and i == 0 else GuardedPolicy
                    pol = cls.for_cost(cost, table=table, **kw)
                    rec: Any = simulate(t, pol, cost, fast=cls is GuardedPolicy)
                    fam = str(t.meta.get("family"))
                    pre[fam][0] += rec.precopied
                    pre[fam][1] += rec.wasted
                    if isinstance(pol, Diagnosed):
                        written = set(np.asarray(t.pages).tolist())
                        for w in pol.windows:
                            w["wasted"] = sum(q not in written for q in w["pages"])
                            wins.append((t, w))
                ws = " ".join(
                    f"{f} {pre[f][1]}/{pre[f][0]} "
                    f"({(100 * pre[f][1] / pre[f][0]) if pre[f][0] else 0:.0f}%)"
                    for f in WASTE_FAMILIES)
                tot = [sum(v[0] for v in pre.values()), sum(v[1] for v in pre.values())]
                print(f"{name:<11} {tname:<8} {text:<48} gain {gm_gain(rel):+6.2f}% "
                      f"worst {rel[worst]:.3f} ({pooled[worst].meta.get('family')}) | "
                      f"waste {ws} | all {tot[1]}/{tot[0]} "
                      f"({(100 * tot[1] / tot[0]) if tot[0] else 0:.1f}%)", flush=True)
                if args.diagnose and i == 0:
                    print(f"   windows on random/sparse ({tname}, {text}):")
                    cells: Counter[str] = Counter()
                    empty = Counter(w["cell"] for _, w in wins if not w["pages"])
                    print(f"   (windows over private pages only, copying nothing: "
                          f"{sum(empty.values())}, not listed)")
                    for t, w in wins:
                        if not w["pages"]:
                            continue
                        cells[w["cell"]] += 1
                        print(window_line(t, w))
                    print("   cells of the windows that copied: "
                          + ", ".join(f"{c} x{n}" for c, n in cells.most_common()))
                    if args.heldout and tname in own:
                        heldout(own[tname], table, cost, kw)
            if args.per_family:
                print(f"-- {name}, {tname}: gain per family, option by option "
                      f"({' | '.join(t for t, _ in variants)})")
                for fam in per_family[0]:
                    print(f"   {fam:<14} " + " ".join(f"{gm_gain(row[fam]):+7.2f}%"
                                                     for row in per_family), flush=True)


def heldout(job: dict[str, Any], table: list[int], cost: Any, kw: dict[str, Any]) -> None:
    """Diagnosis only: the windows that copied pages on ``job``'s own held-out traces (the
    protocol's draws of its family), under its learned ``table``."""
    from cowrl.generalization import test_traces

    traces = test_traces(str(job["holdout"]), int(job.get("n_test", 3)), None, None)
    for t in traces:
        for tname, tab in (("learned", table), ("reckless", [64] * N_CELLS)):
            pol = Diagnosed.for_cost(cost, table=tab, **kw)
            rec: Any = simulate(t, pol, cost, fast=False)
            written = set(np.asarray(t.pages).tolist())
            first = ("never" if pol.first_page is None else
                     f"at fault {pol.first_page[0]} (its class's use {pol.first_page[1]})")
            print(f"   held out {t.name} ({job['holdout']}, training seed {job['seed']}, "
                  f"{tname} table): {rec.precopied} precopied, {rec.wasted} wasted, "
                  f"{pol.faults} faults, {pol.granted} ns granted; the budget first holds one "
                  f"page's reserve {first}")
            for w in pol.windows:
                w["wasted"] = sum(q not in written for q in w["pages"])
                if w["pages"]:
                    print(window_line(t, w))


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
