"""Forked children's copies of one buffer at the same pages: the proof ring's reads of
siblings' entries, before and after a look kept to its own process's entries.

    PYTHONPATH=. python experiments/sibling_reads.py [--chunk 32]

The trace is the kernel test's forked trace (tests/kernel/test_kernel_target.py, FORK_TRACE:
four generator parts, ``experiments/guarded_ttl.py``'s ``forked`` layout, turns of
``--chunk`` writes), placed as the replay harness places it with ``RunRequest(shared=True)``
(:func:`cowrl.kernel.jobs.harness_slots` ``shared``: the four copies at one slot range, as a
real fork leaves them). ``kernel_module/cowrl_guarded.h`` is replayed in user space
(:class:`cowrl.kernel.table.CGuarded`, a page state per child; a sibling's entry never
proves, as the module's page-frame check fails) as shipped ("after") and built with
``COWRL_GUARDED_TEST_ANY_PROC`` (the look before the process was kept, "before"), and with
the harness's default layout (each copy at its own slots: "distinct"). Per table it prints
the faults, the ring entries read, of them siblings', and the proofs. No cost model, no
development draw: a mechanism count, the one the kernel test checks against the module.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from cowrl.kernel.jobs import harness_slots
from cowrl.kernel.table import CGuarded, pack_guarded
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.traces import generators as g

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_ttl import multi_region  # noqa: E402

LOOSE = {"proof_reads 16": {"proof_reads": 16},
         "proof_ttl 2": {"proof_reads": 16, "proof_ttl": 2},
         "own-bucket look": {"proof_reads": 2, "proof_ttl": 4, "proof_backoff": 1,
                             "walk_ns": 4000, "walk_empty_ns": 150, "proof_look": 1},
         "due map": {"proof_reads": 2, "proof_ttl": 4, "proof_backoff": 1, "walk_ns": 4000,
                     "walk_empty_ns": 150, "proof_look": 1, "proof_span": 1,
                     "proof_skipmap": 1, "proof_duemap": 1, "walk_due_ns": 200,
                     "walk_scan_ns": 40}}
"""The kernel test's loose proof tables (a table at random, seed 0; a budget of 1000 per
mille): ``guarded_loose_proof``, ``_ttl``, ``_look``, ``_duemap``."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunk", type=int, default=32, help="writes per turn")
    a = ap.parse_args()
    if a.chunk < 1:
        ap.error(f"--chunk: must be >= 1, got {a.chunk}")
    parts = [g.sequential(n_pages=256, writes=180), g.uniform(n_pages=256, writes=200, seed=3),
             g.sequential(n_pages=256), g.block_stride(n_pages=256, block=3, gap=3)]
    t = multi_region(parts, "forked", chunk=a.chunk)
    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                             size=N_CELLS)]
    with tempfile.TemporaryDirectory() as d:
        after, before = CGuarded(Path(d) / "a"), CGuarded(Path(d) / "b", any_proc=True)
        print("table | layout | faults before -> after | reads | siblings' | proofs")
        for name, kw in LOOSE.items():
            pol = GuardedPolicy(table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900,
                                proof=1, **kw)
            payload = pack_guarded(pol.program())
            for layout, shared in (("one address", True), ("distinct", False)):
                row = []
                for c in (before, after):
                    page, _ = c.replay(payload, t.pages, t.n_pages, t.region_ends,
                                       t.region_vpn_offsets, t.region_writers,
                                       slots=harness_slots(t, shared=shared))
                    row.append((page.size, c.last_proofs, c.last_foreign, c.last_proven))
                print(f"{name} | {layout} | " + " | ".join(
                    f"{x} -> {y}" for x, y in zip(row[0], row[1], strict=True)), flush=True)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
