"""What the safety target allows: the safe ceiling of a protocol sweep's held-out traces.

    python experiments/safe_ceiling.py --jobs DIR --out DIR2 [--validation-dir D] [--corpus-dir D]

Jobs of ``experiments/generalization.py`` record each held-out trace's safe ceiling
(``ceiling_ratio``, cowrl/policies/ceiling.py) since 2026-12-03; this adds it to copies of
older ones (the traces are drawn again as the job drew them, or read from the validation and
corpus directories), writes the copies under ``--out`` (the originals are never touched) and
prints the report's "safe ceiling" section (``--all``: the whole report). Then
``python experiments/generalization.py report=DIR2`` prints the whole report with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.cli import output_dir  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import (  # noqa: E402
    add_ceilings,
    ceiling_summary,
    report,
    resolve_dir,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", required=True, help="a sweep directory (its job.json files)")
    ap.add_argument("--out", required=True, help="where the copies with ceilings go")
    ap.add_argument("--validation-dir",
                    default=os.environ.get("COWRL_VALIDATION_DIR", "../shared/validation"))
    ap.add_argument("--corpus-dir", default="data/traces")
    ap.add_argument("--lambda", dest="lam", type=float, default=1.0,
                    help="the jobs' lambda (the protocol's default: 1.0)")
    ap.add_argument("--all", action="store_true", help="print the whole report")
    args = ap.parse_args()
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
        job = add_ceilings(json.loads(f.read_text()), vdir, cdir, args.lam)
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
