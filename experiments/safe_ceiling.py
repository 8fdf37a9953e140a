"""What the safety target allows: the safe ceiling of a protocol sweep's held-out traces, and
what it allows an online policy on writes in random order.

    python experiments/safe_ceiling.py --jobs DIR --out DIR2 [--validation-dir D] [--corpus-dir D]
    python experiments/safe_ceiling.py --random-fills [--first 2000 | --heldout-eval]

Jobs of ``experiments/generalization.py`` record each held-out trace's safe ceiling
(``ceiling_ratio``, cowrl/policies/ceiling.py) since 2026-12-03; this adds it to copies of
older ones (the traces are drawn again as the job drew them, or read from the validation and
corpus directories), writes the copies under ``--out`` (the originals are never touched) and
prints the report's "safe ceiling" section (``--all``: the whole report). Then
``python experiments/generalization.py report=DIR2`` prints the whole report with it.

``--random-fills`` prints, for uniformly random fills of 1,024 to 16,384 pages and three
development draws of ``dense_chunks`` (``g.randomized(first + i, 0, families="dense_chunks")``,
seeds 2000+; ``--heldout-eval``: the protocol's three held-out ``dense_chunks`` test traces
instead, seeds 100000+, for an evaluation-only report, as docs/policies.md's table was
printed before session 29, when they were the default), under ``seed_table1`` and
``host``: the bound on any *online* safe policy's expected objective / baseline when the order
cannot be known (``unknown_order_ceiling``), the clairvoyant safe ceiling, k = 64, the best
fixed k, the oracle and the shipped ``guarded`` (docs/policies.md, "The safe ceiling").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.cli import output_dir  # noqa: E402
from cowrl.devdraws import add_draw_arguments, check_first, family_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import (  # noqa: E402
    add_ceilings,
    ceiling_summary,
    read_job,
    report,
    resolve_dir,
)
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.best_static import BestStatic  # noqa: E402
from cowrl.policies.ceiling import (  # noqa: E402
    safe_ceiling,
    segment_uncertainty,
    unknown_order_ceiling,
)
from cowrl.policies.oracle import Oracle  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402


def random_fills(first: int = 2000, heldout_eval: bool = False) -> None:
    """The ``--random-fills`` table (see the module docstring): development draws of
    ``dense_chunks`` from seed ``first`` (2000+), or with ``heldout_eval`` the protocol's
    held-out test traces (evaluation only)."""
    check_first(first)
    print("| cost model | trace | first writes | online bound (unknown order) | clairvoyant "
          "ceiling | k = 64 | best fixed k | oracle | guarded (shipped) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cm in ("seed_table1", "host"):
        cost = make_costmodel(cm)
        guarded = make_policy("guarded", lam=1.0)
        cases = [(g.uniform(n_pages=n, writes=8 * n, seed=1, name=f"random fill {n}"),
                  [0, n]) for n in (1024, 4096, 16384)]
        for t in family_draws("dense_chunks", 3, first, heldout_eval=heldout_eval):
            ch = int(t.meta["chunk"])
            cases.append((t, [*range(0, t.n_pages, ch), t.n_pages]))
        for t, edges in cases:
            u = segment_uncertainty(t.pages, edges)
            objs = BestStatic().objectives(t, cost)
            base = objs[0]
            oracle, shipped = (objective(simulate(t, p, cost), 1.0, cost.page_cost_ns) / base
                               for p in (Oracle(), guarded))
            label = t.name + (f" (chunk {t.meta['chunk']}, coverage "
                              f"{float(t.meta['coverage']):.2f})" if "chunk" in t.meta else "")
            print(f"| {cm} | {label} | {len(u)} | {unknown_order_ceiling(u, cost):.3f} | "
                  f"{safe_ceiling(t, cost).ratio:.3f} | {objs[64] / base:.3f} | "
                  f"{min(objs.values()) / base:.3f} | {oracle:.3f} | {shipped:.3f} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", help="a sweep directory (its job.json files)")
    ap.add_argument("--out", help="where the copies with ceilings go")
    ap.add_argument("--random-fills", action="store_true",
                    help="the bound on online policies for writes in random order")
    add_draw_arguments(ap, scope="--random-fills (F = dense_chunks, i < 3)")
    ap.add_argument("--validation-dir",
                    default=os.environ.get("COWRL_VALIDATION_DIR", "../shared/validation"))
    ap.add_argument("--corpus-dir", default="data/traces")
    ap.add_argument("--lambda", dest="lam", type=float, default=1.0,
                    help="the jobs' lambda (the protocol's default: 1.0)")
    ap.add_argument("--all", action="store_true", help="print the whole report")
    args = ap.parse_args()
    if args.random_fills:
        random_fills(args.first, args.heldout_eval)
        if not args.jobs:
            return 0
    if not args.jobs or not args.out:
        raise ConfigError("--jobs and --out: give both (or --random-fills)")
    src = Path(args.jobs)
    if not src.is_dir():
        raise ConfigError(f"--jobs: {src} is not a directory")
    files = sorted(src.rglob("job.json"))
    if not files:
        raise ConfigError(f"--jobs: no job.json under {src}")
    out = output_dir(args.out, "--out")
    if out.resolve() == src.resolve():
        raise ConfigError("--out: give another directory than --jobs (copies, never in place)")
    vdir, cdir = resolve_dir(args.validation_dir), resolve_dir(args.corpus_dir)
    jobs = []
    for i, f in enumerate(files):
        job = add_ceilings(read_job(f, "--jobs"), vdir, cdir, args.lam)
        dst = out / f.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(job, default=float))
        jobs.append(job)
        print(f"[{i + 1}/{len(files)}] {job['holdout']} seed {job['seed']} "
              f"{job['costmodel']}", file=sys.stderr, flush=True)
    print(report(jobs) if args.all else "\n".join(ceiling_summary(jobs)))
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
