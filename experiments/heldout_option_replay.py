"""Diagnosis only: the guarded tables a leave-one-out sweep learned, replayed on their own
held-out traces with budget options changed (the option alone, no table learned again).

    COWRL_VALIDATION_DIR=VDIR python experiments/heldout_option_replay.py \
        --jobs DIR --seeds 0 --options '{"floor_slow": 5}'

DIR is the sweep directory of ``experiments/generalization.py`` (its ``job.json`` files),
VDIR the validation traces (default ``../shared/validation``; the validation jobs are skipped,
and said so, where it is absent). Per cost model and set (the 17 families, validation, the
applications): the pooled gain with the shipped options (asserted equal to the sweep's own
rows, trace for trace) and with ``--options`` over them, the worst trace, and the traces whose
ratio moved. Never a basis for choosing an option: it reads held-out results.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl import generalization as G  # noqa: E402
from cowrl.errors import ConfigError, parse_json  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import GuardedPolicy, shipped_options  # noqa: E402
from cowrl.policies.static import Baseline  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=Path, required=True, help="a sweep directory")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--options", required=True, help="JSON: guarded options over the shipped")
    ap.add_argument("--corpus-dir", type=Path, default=Path("data/traces"))
    args = ap.parse_args()
    opts = parse_json(args.options, "--options")
    if not isinstance(opts, dict):
        raise ConfigError("--options: a JSON object, e.g. '{\"floor_slow\": 5}'")
    vdir = Path(os.environ.get("COWRL_VALIDATION_DIR", "../shared/validation"))
    res: dict[str, dict[str, list[tuple[str, float, float]]]] = {}
    if not args.jobs.is_dir():
        raise ConfigError(f"--jobs: {args.jobs} is not a directory")
    jobs = G.gather(args.jobs, "--jobs")
    if not jobs:
        raise ConfigError(f"--jobs: no job.json under {args.jobs}")
    for j in jobs:
        if "rows" not in j or int(j["seed"]) not in args.seeds:
            continue
        h, cm = j["holdout"], j["costmodel"]
        cost = make_costmodel(cm)
        old = {r["trace"]: r["ratio"] for r in j["rows"] if r["policy"] == "guarded"}
        s = "families" if h in G.FAMILIES else "validation" if h == G.VALIDATION else "apps"
        if h == G.VALIDATION and not vdir.is_dir():
            print(f"skipped {h} ({cm}, seed {j['seed']}): {vdir} is not a directory")
            continue
        for t in G.test_traces(h, len(old) if h in G.FAMILIES else 3, vdir, args.corpus_dir):
            base = objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
            r = []
            for extra in ({}, opts):
                pol = GuardedPolicy.for_cost(cost, 1.0, table=j["tables"]["guarded"],
                                             **{**shipped_options(), **extra})
                r.append(objective(simulate(t, pol, cost), 1.0, cost.page_cost_ns) / base)
            if abs(r[0] - old[t.name]) > 1e-9:
                raise ConfigError(f"{h}/{cm}/{t.name}: replay {r[0]} != the sweep's "
                                  f"{old[t.name]} (another commit's decisions?)")
            res.setdefault(cm, {}).setdefault(s, []).append((t.name, r[0], r[1]))
    for cm, sets in sorted(res.items()):
        for s, rows in sets.items():
            g0, g1 = (100 * (1 - math.exp(sum(math.log(x[i]) for x in rows) / len(rows)))
                      for i in (1, 2))
            worst = max(rows, key=lambda x: x[2])
            moved = [(n, round(a, 4), round(b, 4)) for n, a, b in rows if abs(a - b) > 1e-9]
            print(f"{cm} {s}: {len(rows)} traces, {g0:+.2f}% -> {g1:+.2f}% ({g1 - g0:+.2f}); "
                  f"worst {worst[0]} {worst[2]:.4f}; moved {moved}")


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
