"""The proof look under a starved budget: ``guarded`` and ``shield64`` with option variants on
the development draws, single-region and multi-region, including layouts whose regions share
a proof-ring bucket.

    nice -n 10 python experiments/guarded_starve.py --costmodels seed_table1 host --draws 3 \
        --variants '{"off": {}, "on": {"proof_cutback": 6}}' --out /tmp/x.json
    python experiments/guarded_starve.py --compare /tmp/a.json /tmp/b.json

On the development draws (``g.randomized(2000 + d, 0, families=f)``, d < ``--draws``, every
generator family, or those of ``--families``: the draws of experiments/ramp_proposer.py; never
the held-out sets, the validation traces nor the never-seen programs), per cost model, four
sets of traces:

* ``single``: each draw alone (one region);
* ``phases`` and ``interleaved``: the draws grouped ``--regions`` at a time into traces of as
  many regions (experiments/guarded_ttl.py's :func:`region_draws`), one region after the
  other or in turns of ``--chunk`` writes;
* ``shared``: the ``--regions`` regions of each ``interleaved`` trace placed at virtual
  addresses that put them all in one proof-ring bucket (:func:`region_bucket`; regions of
  different sizes, at starts chosen so that their keys collide): the layout in which every
  look steps over other regions' entries (a forked program's workers share a bucket so);
* ``forked``: each draw written by ``--regions`` workers, each its own copy of the draw's
  region at one virtual address (a buffer forked children rewrite), in turns of 64 writes:
  one bucket while the key is the address and the size.

Per policy and variant it prints, per set and over all, the gain (1 - geometric-mean
objective / baseline, %) and the worst trace's objective / baseline, and against the first
variant the worst and best trace's ratio and how many traces decided otherwise. ``--out``
saves every trace's objective; ``--mechanism`` also runs the prototype on the ``shared`` and
``forked`` sets and prints per policy and variant the looks cut by the budget, the pages
proven, copied and wasted, summed over the set; ``--compare A B`` prints, per policy, variant
and set, the ratio of B's objectives to A's (two trees, the same variants: what a change of
code did).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guarded_ttl import region_draws  # noqa: E402

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.generalization import holdout_names  # noqa: E402
from cowrl.metrics import geomean_gain, objective  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.programs import G_BUCKETS, region_bucket  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import PAGE_SIZE, Trace  # noqa: E402

SETS = ("single", "phases", "interleaved", "shared", "forked")
WORKERS_CHUNK = 64  # forked: writes per worker's turn
POLICIES = ("guarded", "shield64")


def shared_bucket(t: Trace, bucket: int = 0) -> Trace:
    """``t`` with its regions at virtual addresses whose proof-ring keys all fall in
    ``bucket``: region r at the first start (512 pages apart from the previous region's end,
    plus 0..511) that hashes there, so the regions do not overlap."""
    sizes = [int(s) for s in t.region_sizes] if t.region_sizes is not None else [t.n_pages]
    starts: list[int] = []
    at = 1 << 20  # a virtual page well above 0
    for size in sizes:
        off = next(o for o in range(512 * G_BUCKETS) if region_bucket(at + o, size) == bucket)
        starts.append((at + off) * PAGE_SIZE)
        at = ((at + off + size) // 512 + 2) * 512
    return Trace(pages=t.pages, n_pages=t.n_pages, name=f"shared:{t.name}",
                 region_sizes=np.asarray(sizes, dtype=np.int64),
                 region_starts=np.asarray(starts, dtype=np.uint64),
                 meta={"family": f"shared:{t.meta.get('family', t.name)}"})


def forked(t: Trace, workers: int, chunk: int = WORKERS_CHUNK) -> Trace:
    """``t``'s region rewritten by ``workers`` workers (writer w its own copy, all at one
    virtual address), in turns of ``chunk`` writes, each worker's writes ``t``'s order
    rotated by ``w / workers`` of the trace (the workers do the same work, not in step)."""
    n = t.n_pages
    own = [np.roll(np.asarray(t.pages, dtype=np.int64), w * t.writes // workers) + w * n
           for w in range(workers)]
    turns = [[p[i:i + chunk] for i in range(0, p.size, chunk)] for p in own]
    order = [(x[r], w) for r in range(max(len(x) for x in turns))
             for w, x in enumerate(turns) if r < len(x)]
    pages = np.concatenate([p for p, _ in order])
    writer = np.concatenate([np.full(p.size, w, dtype=np.int32) for p, w in order])
    return Trace(pages=pages, n_pages=n * workers, name=f"forked:{t.name}",
                 region_sizes=np.full(workers, n, dtype=np.int64),
                 region_starts=np.full(workers, (1 << 20) * PAGE_SIZE, dtype=np.uint64),
                 region_writers=np.arange(workers, dtype=np.int32), writer=writer,
                 meta={"family": f"forked:{t.meta.get('family', t.name)}"})


def trace_sets(draws: int, regions: int, chunk: int,
               families: Sequence[str] = g.FAMILIES) -> dict[str, list[Trace]]:
    single = [g.randomized(2000 + d, 0, families=f) for f in families for d in range(draws)]
    inter = region_draws(single, regions, "interleaved", chunk)
    return {"single": single, "phases": region_draws(single, regions, "phases", chunk),
            "interleaved": inter, "shared": [shared_bucket(t) for t in inter],
            "forked": [forked(t, regions) for t in single[::draws]]}


def build(name: str, cost: Any, options: dict[str, Any]) -> GuardedPolicy:
    kw = shipped_options()
    kw.update(options)
    if name == "shield64":
        return GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, **kw)
    shipped = make_policy("guarded")
    assert isinstance(shipped, GuardedPolicy)
    return GuardedPolicy.for_cost(cost, table=shipped.table, **kw)


def measure(costmodels: list[str], variants: dict[str, dict[str, Any]], draws: int,
            regions: int, chunk: int, families: Sequence[str] = g.FAMILIES) -> dict[str, Any]:
    """``{cost: {policy: {variant: {set: [objective / baseline per trace]}}}}``."""
    sets = trace_sets(draws, regions, chunk, families)
    out: dict[str, Any] = {}
    for cm in costmodels:
        cost = make_costmodel(cm)
        bases = {s: [objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                     for t in ts] for s, ts in sets.items()}
        out[cm] = {}
        for name in POLICIES:
            out[cm][name] = {}
            for vname, opts in variants.items():
                rel: dict[str, list[float]] = {}
                for s, ts in sets.items():
                    rel[s] = []
                    for t, base in zip(ts, bases[s], strict=True):
                        pol = build(name, cost, opts)
                        rec = simulate(t, pol, pol.priced(cost))
                        rel[s].append(objective(rec, 1.0, cost.page_cost_ns) / base)
                out[cm][name][vname] = rel
                report(cm, name, vname, rel, out[cm][name][next(iter(variants))])
    return out


def report(cm: str, name: str, vname: str, rel: dict[str, list[float]],
           ref: dict[str, list[float]]) -> None:
    cols = []
    allv: list[float] = []
    ratios: list[float] = []
    for s in SETS:
        v = rel[s]
        allv += v
        ratios += [a / b for a, b in zip(v, ref[s], strict=True)]
        cols.append(f"{s} {geomean_gain(v):+6.2f}% {max(v):.3f}")
    changed = sum(abs(r - 1) > 1e-12 for r in ratios)
    print(f"{cm:<11} {name:<8} {vname:<10} all {geomean_gain(allv):+6.2f}% {max(allv):.3f} | "
          + " | ".join(cols)
          + f" | vs first: worst {max(ratios):.4f} best {min(ratios):.4f} "
          f"changed {changed}/{len(ratios)}", flush=True)


def mechanism(costmodels: list[str], variants: dict[str, dict[str, Any]], draws: int,
              regions: int, chunk: int, families: Sequence[str] = g.FAMILIES) -> None:
    """Per cost model, policy, variant and set (``shared``, ``forked``): looks cut, pages
    proven, copied and wasted (the prototype's counters, summed over the set's traces)."""
    sets = trace_sets(draws, regions, chunk, families)
    for cm in costmodels:
        cost = make_costmodel(cm)
        for name in POLICIES:
            for vname, opts in variants.items():
                cols = []
                for s in ("shared", "forked"):
                    tot = np.zeros(4, dtype=np.int64)
                    for t in sets[s]:
                        pol = build(name, cost, opts)
                        rec = simulate(t, pol, pol.priced(cost), fast=False)
                        tot += (pol.ctx.proof_cuts, pol.ctx.proven, rec.precopied, rec.wasted)
                    cols.append(f"{s}: cut {tot[0]} proven {tot[1]} copied {tot[2]} "
                                f"wasted {tot[3]}")
                print(f"{cm:<11} {name:<8} {vname:<10} " + " | ".join(cols), flush=True)


def compare(a: dict[str, Any], b: dict[str, Any]) -> None:
    for cm, pols in b.items():
        for name, vs in pols.items():
            for vname, rel in vs.items():
                ref = a[cm][name][vname]
                print(f"{cm} {name} {vname}: B/A", end="")
                for s in SETS:
                    r = [x / y for x, y in zip(rel[s], ref[s], strict=True)]
                    ch = sum(abs(x - 1) > 1e-12 for x in r)
                    print(f" | {s} gain {geomean_gain(ref[s]):+.2f}% -> "
                          f"{geomean_gain(rel[s]):+.2f}%, worst ratio {max(r):.4f}, best "
                          f"{min(r):.4f}, changed {ch}/{len(r)}", end="")
                print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--draws", type=int, default=3, help="development draws per family")
    ap.add_argument("--families", default=",".join(g.FAMILIES),
                    help="comma-separated generator families (default: all; fewer make a "
                         "quick run, as the tests do)")
    ap.add_argument("--regions", type=int, default=4, help="regions per multi-region trace")
    ap.add_argument("--chunk", type=int, default=256, help="interleaved: writes per turn")
    ap.add_argument("--variants", type=json.loads, default={"shipped": {}},
                    help="JSON: {name: options over the shipped ones}; the first is the "
                         "reference")
    ap.add_argument("--out", type=Path, default=None, help="save the objectives (JSON)")
    ap.add_argument("--mechanism", action="store_true",
                    help="also the prototype's counters on the shared and forked sets")
    ap.add_argument("--compare", type=Path, nargs=2, default=None, metavar=("A", "B"))
    a = ap.parse_args()
    check_draws(a.draws)
    families = holdout_names(a.families, "--families", families_only=True)
    if a.compare:
        compare(json.loads(a.compare[0].read_text()), json.loads(a.compare[1].read_text()))
        return
    res = measure(a.costmodels, a.variants, a.draws, a.regions, a.chunk, families)
    if a.out:
        a.out.write_text(json.dumps(res))
    if a.mechanism:
        mechanism(a.costmodels, a.variants, a.draws, a.regions, a.chunk, families)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
