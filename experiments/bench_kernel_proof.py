"""Cost of interior proofs in the module (the dirty-bit clean, its pfn, the proof reads).

    python experiments/bench_kernel_proof.py                 # 6.1 and 6.12
    python experiments/bench_kernel_proof.py --releases 6.1

One boot per kernel under TCG with the deterministic clock (``icount 0``: 1 ns = one guest
instruction, 1 vCPU) runs ``cowrl_stress proofcost``: a sequential write of every page of
a 4096-page region after fork, under a guarded table that wants degree k at every fault and
always affords it, so ``proof = 0`` and ``proof = 1`` copy the same pages; k = 8 and 64,
interleaved, median of 3. Prints per k the write loop's time per write for both, the
difference per precopied page (the clean: walk, PTE lock, checks, clear, tlb_gen, local
invlpg; storing its pfn; and the later faults' written() reads) and the proof counters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cowrl.kernel.backend import run_session  # noqa: E402

RELEASES = {"6.1": "auto", "6.12": "6.12"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="6.1,6.12")
    args = ap.parse_args()
    for rel in args.releases.split(","):
        s = run_session([], {"kernel_release": RELEASES[rel], "icount": "0",
                             "run_timeout_s": 600.0}, checks=("stress:proofcost",),
                        progress=True)
        r = s.checks["stress:proofcost"]["proofcost"]
        if not r.get("ok"):
            print(f"== Linux {rel}: proofcost failed: {r.get('why')}")
            return 1
        print(f"== Linux {s.info['kernel_release']} (icount 0: instruction-ns), "
              f"{r['pages']} pages, median of {r['repeats']}")
        for k in sorted({run["k"] for run in r["runs"]}):
            off, on = (next(x for x in r["runs"] if x["k"] == k and x["proof"] == p)
                       for p in (0, 1))
            per_page = (on["loop_ns"] - off["loop_ns"]) / max(on["precopy_copies"], 1)
            share = per_page / (off["loop_ns"] / r["pages"])
            print(f"  k={k:2d}: per write {off['loop_ns'] / r['pages']:8.0f} (proof 0) "
                  f"{on['loop_ns'] / r['pages']:8.0f} (proof 1); demand faults "
                  f"{on['demand_faults']}, precopied {on['precopy_copies']}; proof 1 costs "
                  f"{per_page:.0f} per precopied page ({share:.1%}"
                  f" of a write); proof_clean {on['proof_clean']}, proof_lost "
                  f"{on['proof_lost']}, proof_credited {on['proof_credited']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
