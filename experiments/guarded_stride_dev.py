"""The tables a generalization job learned, replayed on development draws.

    python experiments/guarded_stride_dev.py --jobs DIR/job.json [...] [--draws 8]
        [--families F ...]

A job of ``experiments/generalization.py`` with ``'learners=[guarded,guarded_adjacent]'`` saves
both learned tables in its ``job.json`` (``tables``): ``guarded``'s learned with the shipped
options (strided windows, ``stride_window: 1``, since session 30; ``learn_table`` prices strided
arms: docs/policies.md, "Learning with strided windows"), ``guarded_adjacent``'s with
``stride_window: 0``. A session 29 job (``'learners=[guarded,guarded_stride]'``) saved the same
two tables as ``guarded_stride`` (strided) and ``guarded`` (adjacent); both are read. This
replays, under the job's cost model, on the development draws of every family
(``randomized(2000 + d, 0, families=F)``, d < ``--draws``; never the held-out test traces nor
the validation traces):

* ``guarded_adjacent``: the adjacent table with ``stride_window: 0``;
* ``guarded``: the strided table with the shipped options (``stride_window: 1``);
* ``guarded_adjacent+sw``: the adjacent table with ``stride_window: 1`` (strided windows, the
  table not re-learned with them).

Per policy: the gain over all draws (1 - geometric mean of objective / baseline), per family,
the worst draw x baseline, pages copied and wasted. The job's held-out family is among the
families: its draws were not trained on (the job left the family out); the others' draws are
of the training distribution, not its training draws (those are seeds 17 + ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import read_job  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import GuardedPolicy, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402


def policies(job: dict, cost: object) -> dict[str, GuardedPolicy]:
    """The three policies of a job's tables (see the module docstring)."""
    tabs = job.get("tables", {})
    if "guarded_stride" in tabs:  # a session 29 job: guarded was then the adjacent learner
        tabs = {"guarded": tabs["guarded_stride"], "guarded_adjacent": tabs.get("guarded")}
    missing = [n for n in ("guarded", "guarded_adjacent") if tabs.get(n) is None]
    if missing:
        raise ConfigError(f"jobs: {job['_path']} has no learned {missing[0]} table (run the job "
                          "with 'learners=[guarded,guarded_adjacent]')")
    adjacent = shipped_options("guarded_adjacent")
    strided = {**adjacent, "stride_window": 1}
    return {"guarded_adjacent": GuardedPolicy.for_cost(cost, table=tabs["guarded_adjacent"],
                                                       **adjacent),
            "guarded": GuardedPolicy.for_cost(cost, table=tabs["guarded"], **strided),
            "guarded_adjacent+sw": GuardedPolicy.for_cost(cost, table=tabs["guarded_adjacent"],
                                                          **strided)}


def gain(ratios: list[float]) -> float:
    return 100 * (1 - float(np.exp(np.mean(np.log(ratios)))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", nargs="+", type=Path, required=True,
                    help="job.json files of generalization.py jobs (both guarded learners)")
    ap.add_argument("--draws", type=int, default=8, help="development draws per family")
    ap.add_argument("--families", nargs="+", default=list(g.FAMILIES))
    args = ap.parse_args()
    check_draws(args.draws)
    bad = [f for f in args.families if f not in g.FAMILIES]
    if bad:
        raise ConfigError(f"families: {bad[0]!r} is not a family ({', '.join(g.FAMILIES)})")
    for path in args.jobs:
        job = {**read_job(path, "jobs"), "_path": path}
        cost = make_costmodel(job["costmodel"])
        pols = policies(job, cost)
        res: dict[str, dict[str, list[float]]] = {p: {} for p in pols}
        worst = {p: (0.0, "") for p in pols}
        pages = {p: [0, 0] for p in pols}
        for f in args.families:
            for d in range(args.draws):
                t = g.randomized(2000 + d, 0, families=f)
                base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                for name, p in pols.items():
                    rec = simulate(t, p, cost)
                    r = objective(rec, 1.0, cost.page_cost_ns) / base
                    res[name].setdefault(f, []).append(r)
                    pages[name][0] += rec.precopied
                    pages[name][1] += rec.wasted
                    if r > worst[name][0]:
                        worst[name] = (r, f"{f}/{2000 + d}")
        print(f"\n== job holdout={job['holdout']} seed={job['seed']} costmodel={job['costmodel']}"
              f"; development draws: {args.draws} per family")
        print("| policy | all | " + " | ".join(args.families) + " | worst draw | copied / "
              "wasted |")
        print("|---" * (len(args.families) + 4) + "|")
        for name in pols:
            allr = [r for f in args.families for r in res[name][f]]
            print(f"| {name} | {gain(allr):+.2f}% | "
                  + " | ".join(f"{gain(res[name][f]):+.2f}" for f in args.families)
                  + f" | {worst[name][0]:.3f} ({worst[name][1]}) | {pages[name][0]} / "
                  f"{pages[name][1]} |")
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
