"""``depth_cap`` (docs/results/depth-cap-s41.md) on development block traces, and the diagnoses.

    python experiments/depth_cap_blocks.py blocks [--n-pages 4096]
    python experiments/depth_cap_blocks.py depths --family dense_chunks --costmodel host
    python experiments/depth_cap_blocks.py degrees [--n-pages 4096]
    python experiments/depth_cap_blocks.py runcap [--n-pages 4096]

``blocks``: the lead's five block traces of docs/results/run-cap-s40.md section 4, regenerated
(``generators.block_stride``: blocks / gaps 16/8, 4/4, 8/4, 8/8, and blocks of 8 with gaps
alternating 4 and 8), ``shield64`` and ``shield64`` + ``depth_cap: 1`` under both cost models:
ratio to baseline, pages wasted, faults, and the best fixed k. ``depths``: per development
draw of a family (the prototype), the option off and on: faults, copies, waste, the decisions
the cap shortened and the depth EWMAs at the end (per row: stream adjacent, stream strided,
other adjacent, other strided; 1.0 = 4096). ``degrees``: on b8 g4 the degrees the compiled
program chose with the option and its tallies. ``runcap``: run-cap-s40's open question, on b8
g4 with ``run_cap: 1``: the run length each new run (a near continuation) carries, and
whether it was kept. Development traces only.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import development_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import measure  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    DEPTH_ONE,
    N_CELLS,
    GuardedContext,
    GuardedPolicy,
    shipped_options,
)
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

COSTS = ("seed_table1", "host")


def _shield(cost_name: str, **opts: int) -> GuardedPolicy:
    return GuardedPolicy.for_cost(make_costmodel(cost_name), table=[64] * N_CELLS,
                                  name="depthcap" if opts.get("depth_cap") else "shield64",
                                  **{**shipped_options("guarded"), **opts})


def alternating(n_pages: int, block: int = 8, gaps: tuple[int, ...] = (4, 8)) -> Trace:
    """Blocks of ``block`` pages with gaps cycling through ``gaps``, ascending."""
    pages: list[int] = []
    p = i = 0
    while p < n_pages:
        pages += [q for q in range(p, p + block) if q < n_pages]
        p += block + gaps[i % len(gaps)]
        i += 1
    return Trace(pages=np.asarray(pages), n_pages=n_pages, name="b8_g4/8")


def block_traces(n_pages: int) -> list[Trace]:
    return [g.block_stride(n_pages=n_pages, block=b, gap=gap, name=f"b{b}_g{gap}")
            for b, gap in ((16, 8), (4, 4), (8, 4), (8, 8))] + [alternating(n_pages)]


def blocks(n_pages: int) -> None:
    traces = block_traces(n_pages)
    for cm in COSTS:
        cost = make_costmodel(cm)
        rows = measure([_shield(cm), _shield(cm, depth_cap=1)], traces, cost)
        for t in traces:
            rr = {r["policy"]: r for r in rows if r["trace"] == t.name}
            s, d, b = rr["shield64"], rr["depthcap"], rr["precopy_best"]
            print(f"{cm} {t.name}: shield64 {s['ratio']:.3f} w{s['wasted']} f{s['faults']} | "
                  f"depth_cap {d['ratio']:.3f} w{d['wasted']} f{d['faults']} "
                  f"c{d['precopied']} | best k={b.get('best_k')} {b['ratio']:.3f}")


def depths(family: str, first: int, cost_name: str, draws: int) -> None:
    cost = make_costmodel(cost_name)
    for t in development_draws(family, draws, first):
        for on in (0, 1):
            pol = _shield(cost_name, depth_cap=on)
            r = simulate(t, pol, cost, fast=False)
            c = pol.ctx
            ew = [[round(x / DEPTH_ONE, 2) for x in row] for row in c.depth] if on else ""
            print(f"{cost_name} {t.name} depth_cap {on}: faults {r.faults} copied "
                  f"{r.precopied} wasted {r.wasted}; capped {c.depth_capped} "
                  f"proven {c.proven} overwritten {c.overwritten} {ew}")


def degrees(n_pages: int) -> None:
    t = g.block_stride(n_pages=n_pages, block=8, gap=4, name="b8_g4")
    for cm in COSTS:
        cost = make_costmodel(cm)
        r, ev = simulate(t, _shield(cm, depth_cap=1), cost, record_events=True, fast=True)
        ks = sorted(Counter(int(k) for k in ev.k).items())
        print(f"{cm} b8_g4: faults {r.faults} copied {r.precopied} wasted {r.wasted}; "
              f"k: {ks}; tallies {ev.tallies}")


def runcap(n_pages: int) -> None:
    t = g.block_stride(n_pages=n_pages, block=8, gap=4, name="b8_g4")
    orig = GuardedContext.observe_fault
    for cm in COSTS:
        lens: Counter[int] = Counter()
        kept: Counter[str] = Counter()

        def spy(self: GuardedContext, page: int, start: int = 0, limit: int = -1,  # noqa: ANN202
                lens: Counter[int] = lens, kept: Counter[str] = kept):
            best, gap = -1, self.near + 1  # the slot a near continuation matches, before
            for i in range(self.slots):  # observe_fault moves anything
                if self.valid[i] and self.end[i] >= start and 1 <= page - self.end[i] < gap:
                    best, gap = i, page - self.end[i]
            c = orig(self, page, start, limit)
            if best >= 0 and gap > 1:
                rl, rs = self.rlen[best], self.rstart[best]
                lens[c.rlen] += 1
                kept["kept" if rl > 0 and self.end[best] == rs + rl - 1 else "counted"] += 1
            return c

        GuardedContext.observe_fault = spy  # type: ignore[method-assign]
        try:
            r = simulate(t, _shield(cm, run_cap=1), make_costmodel(cm), fast=False)
        finally:
            GuardedContext.observe_fault = orig  # type: ignore[method-assign]
        n = sum(lens.values())
        print(f"{cm}: {n} near continuations (new runs); length carried: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(lens.items()))
              + f"; {dict(kept)}; equal to 8: {lens[8]} ({100 * lens[8] / max(n, 1):.0f}%); "
              f"faults {r.faults}, copied {r.precopied}, wasted {r.wasted}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("blocks", "depths", "degrees", "runcap"))
    ap.add_argument("--n-pages", type=int, default=4096, help="block traces' size")
    ap.add_argument("--family", default="dense_chunks", help="depths: the family")
    ap.add_argument("--first", type=int, default=2000, help="depths: first development seed")
    ap.add_argument("--draws", type=int, default=3, help="depths: draws")
    ap.add_argument("--costmodel", default="host", help="depths: the cost model")
    args = ap.parse_args()
    if args.draws < 1:
        raise ConfigError(f"--draws: must be at least 1, got {args.draws}")
    if args.n_pages < 64:
        raise ConfigError(f"--n-pages: at least 64, got {args.n_pages}")
    if args.first < 2000:
        raise ConfigError("--first: development draws are seeds 2000+")
    if args.what == "blocks":
        blocks(args.n_pages)
    elif args.what == "depths":
        depths(args.family, args.first, args.costmodel, args.draws)
    elif args.what == "degrees":
        degrees(args.n_pages)
    else:
        runcap(args.n_pages)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
