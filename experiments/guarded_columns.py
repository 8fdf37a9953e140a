"""Column sweeps held out: where ``guarded``'s windows go (diagnosis, development draws only).

    python experiments/guarded_columns.py --costmodel seed_table1 --tables-dir DIR \
        [--families stride,long_stride,block_stride] [--draws 6] [--options JSON] \
        [--learn-options JSON]

For each family: the table the leave-one-family-out protocol learns without it (48
randomized training traces of seed 0 without the family plus the recorded corpus, 2 passes,
the shipped options: as ``experiments/guarded_lofo.py`` / ``generalization.py`` learn it;
cached in ``--tables-dir`` as ``without_<family>_<costmodel>.json``; ``--shipped`` uses the
shipped table instead), replayed on ``--draws`` *development* draws of the family
(``randomized(2000 + d, 0, families=family)``, the draws of experiments/guarded_ttl.py; never
the protocol's held-out draws nor the validation traces) with the decisions unchanged
(experiments/guarded_use.py's ``Probe``). Per draw and per family it prints the funnel of the
windows: demand faults, faults whose table value asks for a window (``ask``), of those
refused by the budget (``refused``: ``k = 0``) or cut to a smaller degree (``smaller``),
windows opened, pages copied; the copies' fates: proven, expired, overwritten, left in the
ring at the end, and of those not proven: written while still in the ring (not read in time),
written only after their entry left (``late``), never written; the unproven reads; the proof
look's walk: looks cut by the budget (``cuts``), empty ring slots stepped over, what the
budget paid for the walk over the allowances it granted (``walk/al``); the unproven reads'
price (% of baseline); objective / baseline (``x base``, geometric mean on the family's line)
and the best fixed k of guarded's degrees on each draw (in hindsight: a reference).
Diagnosis only: nothing is chosen here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.generalization import corpus_train_files, holdout_names, train_traces  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import DEGREES, learn_table, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import load_trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_use import CORPUS, Probe, late_writes, walk_summary  # noqa: E402

COLUMNS = ("stride", "long_stride", "block_stride")


def table_without(family: str, costmodel: str, kw: dict[str, Any], cache: Path,
                  tag: str = "") -> list[int]:
    """The table learned without ``family`` (the protocol's learning, training seed 0, the
    options ``kw``), cached as ``without_<family>_<costmodel><tag>.json``."""
    path = cache / f"without_{family}_{costmodel}{tag}.json"
    if path.exists():
        return [int(v) for v in json.loads(path.read_text())]
    train = train_traces([family], 0, 48)
    train += [load_trace(f) for f in corpus_train_files(family, CORPUS)]
    table = list(learn_table(train, [make_costmodel(costmodel)], seed=0, passes=2,
                             **kw)["table"])
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([int(v) for v in table]))
    return table


def funnel(t: Any, table: list[int], cost: Any, kw: dict[str, Any]) -> Counter[str]:
    """One draw's window funnel and copy fates (the decisions unchanged)."""
    base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
    pol = Probe.for_cost(cost, table=table, **kw)
    assert isinstance(pol, Probe)
    rec = simulate(t, pol, pol.priced(cost), fast=False)
    pol.finish()
    c = pol.ctx
    row: Counter[str] = Counter()
    for (_cell, want, k), n in pol.decisions.items():
        if want:
            row["ask"] += n
            row["refused"] += n * (k == 0)
            row["smaller"] += n * (0 < k < want <= 64)
        row["opened"] += n * (k > 0)
    lw = late_writes(t, pol) if c.proven < rec.precopied else None
    row.update(faults=rec.faults, copies=rec.precopied, proven=c.proven, expired=c.expired,
               overwritten=c.overwritten, unproven=c.unproven_reads)
    w = walk_summary(pol)  # the look's walk: looks cut, empty slots, what the budget paid
    row.update(cuts=w["cuts"], empty=w["empty"], walk_paid=w["walk_debit"],
               granted=w["granted"])
    if lw is not None:
        left = lw["fate"] < 2
        row.update(in_ring=int((lw["fate"] == 2).sum()),
                   in_time=int(lw["in_time"].sum()),
                   late=int((left & lw["written"] & ~lw["in_time"]).sum()),
                   never=int((~lw["written"]).sum()))
    # ppm of the baseline: objective, unproven reads' price, k = 0 and the best fixed k
    row["rel_ppm"] = round(1e6 * objective(rec, 1.0, cost.page_cost_ns) / base)
    row["reads_ppm"] = round(1e6 * c.unproven_reads * cost.proof_read_ns / base)
    best = min((objective(simulate(t, StaticPrecopy(k), cost), 1.0, cost.page_cost_ns) / base,
                k) for k in DEGREES[1:])
    row["best_ppm"] = round(1e6 * best[0])
    row["best_k"] = best[1]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--families", default=",".join(COLUMNS))
    ap.add_argument("--draws", type=int, default=6, help="development draws per family")
    ap.add_argument("--tables-dir", type=Path, required=True,
                    help="cache of the tables learned without each family")
    ap.add_argument("--shipped", action="store_true",
                    help="the shipped table (learned with every family) instead")
    ap.add_argument("--options", type=json.loads, default={},
                    help="JSON: options over the shipped ones (replay only)")
    ap.add_argument("--learn-options", default="{}",
                    help="JSON: options over the shipped ones the tables are learned with "
                         "(cached apart: the file name gets a hash of them)")
    args = ap.parse_args()
    check_draws(args.draws)
    cost = make_costmodel(args.costmodel)
    learn_over = json.loads(args.learn_options)
    learn_kw = {**shipped_options(), **learn_over}
    tag = ("_" + hashlib.sha1(json.dumps(learn_over, sort_keys=True).encode()).hexdigest()[:8]
           if learn_over else "")
    kw = {**shipped_options(), **args.options}
    print(f"== {args.costmodel}, options {args.options}, learned with {learn_over}, "
          f"{'shipped table' if args.shipped else 'table learned without the family'}, "
          f"development draws 2000..{2000 + args.draws - 1}", flush=True)
    hdr = ("draw", "params", "faults", "ask", "refused", "smaller", "opened", "copies",
           "proven", "expired", "overwritten", "in_ring", "in_time", "late", "never",
           "unproven", "cuts", "empty", "walk/al", "reads%", "x base", "best k")
    print(" ".join(f"{h[:8]:>8}" for h in hdr))
    for fam in holdout_names(args.families, "--families", families_only=True):
        table = (list(make_policy("guarded").table) if args.shipped  # type: ignore[attr-defined]
                 else table_without(fam, args.costmodel, learn_kw, args.tables_dir, tag))
        tot: Counter[str] = Counter()
        rels, bests = [], []
        for d in range(args.draws):
            t = g.randomized(2000 + d, 0, families=fam)
            r = funnel(t, table, cost, kw)
            tot.update({k: v for k, v in r.items() if k not in ("best_k",)})
            rels.append(r["rel_ppm"] / 1e6)
            bests.append(r["best_ppm"] / 1e6)
            p = ",".join(f"{v}" for k, v in t.meta.items()
                         if k not in ("generator", "family", "draw", "sampler_seed", "seed"))
            print(f"{fam[:5] + str(d):>8} {p:>8} " + " ".join(
                f"{r[k]:>8}" for k in hdr[2:18]) + f" {r['walk_paid'] / max(r['granted'], 1):>8.2f}"
                f" {r['reads_ppm'] / 1e4:>7.2f}% "
                f"{r['rel_ppm'] / 1e6:>8.3f} {r['best_ppm'] / 1e6:>5.3f}@{r['best_k']}",
                flush=True)
        gm = float(np.exp(np.mean(np.log(rels))))
        gb = float(np.exp(np.mean(np.log(bests))))
        print(f"{fam[:8]:>8} {'all':>8} " + " ".join(f"{tot[k]:>8}" for k in hdr[2:18])
              + f" {tot['walk_paid'] / max(tot['granted'], 1):>8.2f}"
              f" {tot['reads_ppm'] / args.draws / 1e4:>7.2f}% {gm:>8.3f} {gb:>5.3f}",
              flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
