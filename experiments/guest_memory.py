"""How much of the qemu guest's memory a trace can use: the rule of the kernel target's check.

    python experiments/guest_memory.py                          # 256 and 2048 MiB, kernel 6.1
    python experiments/guest_memory.py --memory-mb 2048 --release 6.12

Per ``--memory-mb``, one boot (TCG) replays a small trace, then the largest sequential trace
:func:`cowrl.kernel.backend.check_guest_memory` accepts in that guest (every page written
once: the writer copies the whole region) under baseline, hugepage and precopy k=8. Prints
the guest's own footprint (memory_mb - MemAvailable as the first run started) beside what
the rule reserves for it, and whether each run at the limit finished.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cowrl.kernel.backend import (  # noqa: E402
    GUEST_BASE_MIB,
    GUEST_PART,
    guest_memory_needed_mb,
    run_session,
)
from cowrl.kernel.jobs import RunRequest  # noqa: E402
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy  # noqa: E402
from cowrl.traces.io import PAGE_SIZE, Trace  # noqa: E402


def seq(n: int) -> Trace:
    return Trace(pages=np.arange(n), n_pages=n, name=f"seq{n}")


def largest_fitting(memory_mb: int) -> int:
    """The most pages of a sequential trace the check accepts in ``memory_mb``."""
    lo, hi = 1, memory_mb * (1 << 20) // PAGE_SIZE
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if guest_memory_needed_mb(seq(mid)) <= memory_mb else (lo, mid - 1)
    return lo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory-mb", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--release", default="auto", help="kernel.release (auto = 6.1 here)")
    a = ap.parse_args(argv)
    for mem in a.memory_mb:
        n = largest_fitting(mem)
        big = seq(n)
        reqs = [RunRequest(seq(1024), Baseline())] + [
            RunRequest(big, p) for p in (Baseline(), HugePage(), StaticPrecopy(8))]
        s = run_session(reqs, {"memory_mb": mem, "warmup": False, "release": a.release},
                        progress=False)
        used = mem - s.info["mem_available_kb"][0] / 1024
        print(f"memory_mb={mem} ({s.info['kernel_release']}, {s.info['accel']}): guest "
              f"footprint {used:.0f} MiB, reserved by the rule "
              f"{GUEST_BASE_MIB + mem / GUEST_PART:.0f} MiB; limit {n} pages "
              f"({n * PAGE_SIZE / (1 << 20):.0f} MiB)")
        for req, rec in zip(reqs[1:], s.records[1:], strict=True):
            print(f"  {req.policy.name:<10} private_pages={rec.extra['private_pages']} "
                  f"faults={rec.faults} integrity_ok={rec.extra['integrity_ok']}")
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
