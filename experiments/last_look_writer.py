"""``last_look`` on long sequential writers (docs/results/last-look-s43.md, section 3).

    python experiments/last_look_writer.py [--costmodels seed_table1 host] [--pages 32768]

Per cost model and writer length: the shipped ``guarded`` (conf/policy/guarded.yaml) and
``shield64`` (a table of 64s, the shipped options), each without and with ``last_look: 1``,
replayed by the Python prototype (``fast=False``, its counters): objective / baseline (k = 0),
pages copied, copies proven, entries overwritten unproven when the ring wrapped, and the last
looks that proved their entry / did not. A sequential writer of N pages (pages written once
each) is a development shape, not a held-out trace.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.guarded import make_guarded, shipped_options  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--pages", type=int, nargs="+", default=[32768])
    args = ap.parse_args()
    for n in args.pages:
        if n < 64:
            raise ConfigError(f"--pages: at least 64, got {n}")
    for cm in args.costmodels:
        cost = make_costmodel(cm)
        for n in args.pages:
            t = g.sequential(n_pages=n)
            base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
            for name, table in (("guarded", "guarded"), ("shield64", 64)):
                for ll in (0, 1):
                    kw = {**shipped_options("guarded"), **({"last_look": 1} if ll else {})}
                    pol = make_guarded(table=table, costmodel=cm, **kw)
                    r = simulate(t, pol, cost, fast=False)
                    c = pol.ctx
                    print(f"{cm} sequential {n} {name} last_look {ll}: "
                          f"{objective(r, 1.0, cost.page_cost_ns) / base:.4f} x baseline, "
                          f"copied {r.precopied}, proven {c.proven}, overwritten unproven "
                          f"{c.overwritten}, last look proved {c.last_proven} / unproven "
                          f"{c.last_unproven}", flush=True)
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
