"""Where ``guarded``'s budget loses gain: the reckless table (``k = 64`` in every cell) with
one obstacle removed by hindsight, on development draws of every family (and the recorded apps).

    python experiments/guarded_diagnosis.py --costmodel seed_table1 \
        --modes shipped,noalias,instant,truth [--draws 3] [--first 2000]

Draws: ``g.randomized(first + i, 0, families=F)``, i < ``--draws``, development seeds 2000+
(as experiments/ramp_proposer.py). ``--heldout-eval`` draws the protocol's held-out test
traces instead (``test_traces``: seeds 100000+), for an evaluation-only report of a finished
rule; never use it to choose or tune one. (Before session 29 the held-out draws were the
default; docs/policies.md's version-3 diagnosis table was printed that way.)

Modes (none of them deployable; each reads the trace's future or changes the module's
fixed sizes, to price one obstacle):

* ``shipped``: the options as given (``--options``; the defaults are the shipped policy's:
  version 2's decisions, the version-3 options off);
* ``noalias``: a sentinel table of 2^20 entries (no direct-mapped evictions);
* ``instant``: a window's sentinel is resolved when the window is issued: if the trace
  writes that page later, the reserve and the gain are credited at once (no proof
  latency, no proof lost to eviction or to a covering window);
* ``truth``: every window is credited its real outcome at once (used pages' gain minus
  wasted pages' loss): the best any proof rule could tell the budget.

Prints per mode the same summary as ``guarded_options.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cowrl.policies.guarded as guarded  # noqa: E402
from cowrl.devdraws import add_draw_arguments, check_draws, check_first, draw_groups  # noqa: E402
from cowrl.errors import ConfigError, parse_json  # noqa: E402
from cowrl.generalization import check_targets, measure  # noqa: E402
from cowrl.policies.guarded import N_CELLS, GuardedPolicy  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.traces.generators import FAMILIES  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_options import CORPUS, summary  # noqa: E402

MODES = ("shipped", "noalias", "instant", "truth")
"""Hindsight's modes (see the docstring); any other name would run as ``instant``."""


class Hindsight(GuardedPolicy):
    """The guarded policy with one obstacle removed by reading the trace (see the docstring)."""

    mode = "shipped"
    last: np.ndarray

    def replay_program(self) -> None:
        return None  # the Python path: the hooks below run at every fault

    def for_trace(self, trace: Trace, cost: Any, seed: int | None = None) -> Hindsight:
        self.last = np.full(trace.n_pages, -1, dtype=np.int64)
        self.last[trace.pages] = np.arange(trace.writes)
        return self

    def act(self, c: Any, ctx: Any, want: int | None = None) -> int:
        limit = ctx.region_end if ctx.region_end > 0 else ctx.n_pages
        before = np.frombuffer(bytes(self.ctx.private[ctx.page + 1:ctx.page + 65]),
                               dtype=np.uint8).copy()
        k = super().act(c, ctx, want)
        if k == 0 or self.mode in ("shipped", "noalias"):
            return k
        end = min(ctx.page + k, limit - 1)
        shared = before[:end - ctx.page] == 0
        later = self.last[ctx.page + 1:end + 1] > ctx.write_index
        copied, used = int(np.sum(shared)), int(np.sum(later & shared))
        # the record the window just left (its sentinel: the first shared page past it)
        t = s = -1
        for q in range(end + 1, min(end + 2 + self.ctx.scan, limit)):
            i = (q - ctx.region_start) & (guarded.SENTINELS - 1)
            if self.ctx.tags[i] >> 1 == q + 1:
                t, s = i, q
                break
        if self.mode == "truth":  # the window's real outcome, whatever its sentinel
            self.budget += copied * self.loss + used * self.gain - (copied - used) * self.loss
        elif t >= 0 and self.last[s] > ctx.write_index:  # instant: the proof, at once
            self.budget += self.ctx.tag_reserved[t] + self.ctx.tag_pages[t] * self.gain
        else:
            return k
        if t >= 0:  # resolved here: the sentinel credits nothing more
            self.ctx.tags[t] = self.ctx.tag_pages[t] = self.ctx.tag_reserved[t] = 0
        return k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--draws", type=int, default=3)
    add_draw_arguments(ap, never="a rule")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--no-apps", action="store_true",
                    help="leave out the recorded apps (their group line; most of the run's "
                         "time: a quick run, as the tests do)")
    ap.add_argument("--options", default="{}",
                    help="JSON GuardedPolicy keywords, e.g. version 2's rules: "
                         "'{\"protect\": false, \"merge\": false, \"floor\": 0}'")
    args = ap.parse_args()
    check_draws(args.draws)
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES] or ([] if modes else [args.modes])
    if bad:
        raise ConfigError(f"--modes: unknown mode {bad[0]!r} (modes: {', '.join(MODES)})")
    check_first(args.first)
    kw = parse_json(args.options, "--options")
    cost = make_costmodel(args.costmodel)
    groups = draw_groups(FAMILIES, args.draws, args.first, heldout_eval=args.heldout_eval)
    if not args.no_apps:
        groups["apps"] = [load_trace(f) for f in sorted(CORPUS.glob("*.npz"))]
    for mode in modes:
        guarded.SENTINELS = 1 << 20 if mode == "noalias" else 256
        rows, per = [], []
        for fam, ts in groups.items():
            got = []
            for t in ts:
                pol = Hindsight.for_cost(cost, table=[64] * N_CELLS, **kw)
                pol.mode = mode
                got += [r for r in measure([pol], [t], cost) if r["policy"] == pol.name]
            if fam != "apps":
                rows += got
            t = check_targets(got)
            per.append(f"{fam} {100 * t['gain']:+.1f}%/{t['near_best']:.3f}")
        print(f"{mode}: {summary(rows)}")
        print("   " + ", ".join(per), flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
