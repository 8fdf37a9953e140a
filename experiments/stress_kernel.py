"""Stress and fuzz the cowrl module in the guest at long settings, and print the counts.

    python experiments/stress_kernel.py                    # both kernels, --scale 10
    python experiments/stress_kernel.py --releases 6.1 --scale 3
    python experiments/stress_kernel.py --scale 1 --tests staletlb,cleanswap,raceproof

One SMP boot per kernel (2 vCPUs, no icount, ``panic_on_warn=1 oops=panic``) runs every
``cowrl_stress`` test with its iterations multiplied by ``--scale`` (CI runs scale 1 in
``tests/kernel/test_kernel_stress.py``), then the runner-fault checks (not with ``--tests``,
which runs only the named tests). Prints, per kernel:
each test's counts, then ioctls fuzzed, threads, iterations, oopses and the final taint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cowrl.cli import KERNEL_RELEASES, kernel_releases  # noqa: E402
from cowrl.kernel.backend import run_session  # noqa: E402
from cowrl.kernel.runners import GuestHang, GuestPanic, GuestTainted  # noqa: E402

MODULE_TAINT = 12288


def threads_and_iterations(res: dict) -> tuple[int, int]:
    """Threads the tests ran at once (max) and their iterations (writes, processes, cycles,
    calls), summed over tests."""
    threads = max(res.get("race", {}).get("writer_threads", 0)
                  + res.get("race", {}).get("racer_threads", 0),
                  res.get("reload", {}).get("writer_threads", 0))
    it = (res.get("race", {}).get("writes", 0) + res.get("forktree", {}).get("processes", 0)
          + res.get("reload", {}).get("cycles", 0) + res.get("storm", {}).get("syscalls", 0)
          + res.get("thp", {}).get("demand_faults", 0) + res.get("sibling", {}).get("writes", 0)
          + res.get("cowrace", {}).get("pages", 0) * res.get("cowrace", {}).get("threads", 0))
    return threads, it


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="6.1,6.12",
                    help="comma list of 6.1, 6.12")
    ap.add_argument("--scale", type=int, default=10, help="iteration multiplier (CI: 1)")
    ap.add_argument("--timeout", type=float, default=5400.0, help="session timeout, s")
    ap.add_argument("--tests", default="", help="comma list of cowrl_stress tests (default all)")
    args = ap.parse_args()
    releases = kernel_releases(args.releases)
    failed = False
    for rel in releases:
        cfg = {"kernel_release": KERNEL_RELEASES[rel], "icount": "off", "cpus": 2,
               "timeout_s": args.timeout, "run_timeout_s": args.timeout / 2}
        t0 = time.monotonic()
        oopses, taint, head = 0, -1, ""
        try:
            spec = f"stress:{args.tests}@{args.scale}" if args.tests else f"stress@{args.scale}"
            checks = (spec,) if args.tests else (spec, "faults")
            s = run_session([], cfg, checks=checks, progress=True)
        except GuestPanic as e:
            oopses, head = 1, str(e)
        except (GuestHang, GuestTainted) as e:
            print(f"== Linux {rel}: {type(e).__name__}: {e}")
            failed = True
            continue
        if oopses:
            print(f"== Linux {rel}: the guest crashed\n{head}")
            failed = True
            continue
        res = dict(s.checks[spec])
        swap = res.pop("swap", None)
        taint = s.info["taint"]
        print(f"== Linux {s.info['kernel_release']}, scale {args.scale}, "
              f"{time.monotonic() - t0:.0f} s wall")
        for name, r in res.items():
            keep = {k: v for k, v in r.items() if k not in ("test", "why", "rc", "taint")}
            print(f"  {name:9s} {json.dumps(keep)}" + (f"  FAILED: {r.get('why')}"
                                                       if not r.get("ok") else ""))
            failed |= not r.get("ok")
        if swap is not None:
            print(f"  swap      zram {swap['zram']} {swap['why']}")
        if args.tests:
            print(f"  final taint {taint}")
            failed |= taint & ~MODULE_TAINT != 0
            continue
        f = s.checks["faults"]
        print(f"  faults    sigkill targets after {f['sigkill']['targets_after']}, hung targets "
              f"after {f['hung']['targets_after']}, bogus symbol refused "
              f"{not f['bogus_symbol']['loaded_after']}")
        fz = res.get("fuzz", {})
        threads, iters = threads_and_iterations(res)
        print(f"  ioctls fuzzed {fz.get('ioctls_unprivileged', 0) + fz.get('ioctls_root', 0)} "
              f"(+{fz.get('manual_cow_edges', 0)} manual_cow edges), threads {threads}, "
              f"iterations {iters}, oopses {oopses}, final taint {taint} "
              f"({'only the module' if taint == MODULE_TAINT else 'EXTRA BITS'})")
        failed |= taint & ~MODULE_TAINT != 0
    return 1 if failed else 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
