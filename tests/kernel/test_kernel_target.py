"""The kernel target for real: one qemu boot (session fixture) runs the whole batch.

Deselect with ``-m "not kernel"``. Needs qemu-system-x86, busybox-static,
cpio, gcc, make and a linux-headers/linux-image pair (``.ci/run`` installs them).
"""

from __future__ import annotations

import errno

import numpy as np
import pytest

from cowrl.kernel.backend import KernelSession, run_session
from cowrl.kernel.jobs import RunRequest
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.traces.io import Trace

N = 1024
TRACES = {
    "seq": Trace(np.arange(N), N, name="seq"),
    "stride3": Trace(np.arange(0, N, 3), N, name="stride3"),
    "reverse": Trace(np.arange(N - 1, -1, -1), N, name="reverse"),
}
POLICIES = {"baseline": Baseline, "precopy1": lambda: StaticPrecopy(1),
            "precopy4": lambda: StaticPrecopy(4), "hugepage": HugePage}

# Counts from the semantics (region end clips the window; private pages count toward k).
EXPECTED = {  # (faults, precopied, wasted)
    ("seq", "baseline"): (1024, 0, 0),
    ("seq", "precopy1"): (512, 512, 0),
    ("seq", "precopy4"): (205, 819, 0),
    ("stride3", "baseline"): (342, 0, 0),
    ("stride3", "precopy1"): (342, 341, 341),
    ("stride3", "precopy4"): (171, 683, 512),
    ("reverse", "baseline"): (1024, 0, 0),
    ("reverse", "precopy1"): (1024, 0, 0),
    ("reverse", "precopy4"): (1024, 0, 0),
}

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="session")
def session() -> KernelSession:
    reqs = [RunRequest(TRACES[t], POLICIES[p](), label=p) for p in POLICIES for t in TRACES]
    reqs.append(RunRequest(TRACES["seq"], Baseline(), module=False, label="nomodule"))
    reqs.append(RunRequest(TRACES["stride3"], StaticPrecopy(4), writer="parent",
                           label="precopy4-parent"))
    return run_session(reqs, {"accel": "auto"}, checks=("manual_cow", "rmmod"), progress=True)


def _rec(session: KernelSession, trace: str, policy: str):  # noqa: ANN202
    for r in session.records:
        if r.workload == trace and r.policy == policy:
            return r
    raise KeyError((trace, policy))


@pytest.mark.parametrize("trace,policy", sorted(EXPECTED))
def test_counts_match_semantics_and_simulator(session: KernelSession, trace: str,
                                              policy: str) -> None:
    r = _rec(session, trace, policy)
    assert (r.faults, r.precopied, r.wasted) == EXPECTED[(trace, policy)]
    assert len(r.fault_ns) == r.faults and r.extra["unmatched_faults"] == 0
    assert r.extra["dropped"] == 0 and r.extra["nmissed"] == 0
    try:
        from cowrl.sim import CostModel, simulate
    except ImportError:  # pragma: no cover - simulator not there yet
        return
    sim = simulate(TRACES[trace], POLICIES[policy](), CostModel(fault_ns=1.0, copy_ns=1.0,
                                                                 precopy_ns=1.0))
    assert (sim.faults, sim.precopied, sim.wasted) == (r.faults, r.precopied, r.wasted)


def test_integrity_in_every_run(session: KernelSession) -> None:
    bad = [(r.workload, r.policy) for r in session.records if not r.extra["integrity_ok"]]
    assert not bad
    assert all(r.target == "kernel" and r.write_ns is not None and len(r.write_ns) == r.writes
               for r in session.records)


def test_hugepage_on_61_splits_then_copies_4k(session: KernelSession) -> None:
    """Linux 6.1 splits a shared anon THP on write and copies 4 KiB: counts equal baseline."""
    for t in TRACES:
        huge, base = _rec(session, t, "hugepage"), _rec(session, t, "baseline")
        assert huge.extra["thp_backed"], "the region was not THP-backed before fork"
        assert "[madvise]" in huge.extra["thp_setting"]
        assert "[never]" in base.extra["thp_setting"] and not base.extra["thp_backed"]
        assert (huge.faults, huge.precopied) == (base.faults, base.precopied)


def test_parent_writer_mode(session: KernelSession) -> None:
    r = _rec(session, "stride3", "precopy4-parent")
    assert (r.faults, r.precopied, r.wasted) == EXPECTED[("stride3", "precopy4")]
    assert r.extra["integrity_ok"] and r.extra["writer"] == "parent"


def test_no_module_run(session: KernelSession) -> None:
    r = _rec(session, "seq", "nomodule")
    assert r.faults == N and r.extra["module"] is False and r.extra["integrity_ok"]


def test_kernel_fault_timings_recorded(session: KernelSession) -> None:
    r = _rec(session, "seq", "precopy4")
    assert 0 < r.extra["kfault_min_ns"] <= r.extra["kfault_avg_ns"] <= r.extra["kfault_max_ns"]
    assert r.extra["runner"] == "qemu" and r.extra["kernel_release"].startswith("6.1")


@pytest.mark.parametrize("path", ["manual_cow_module", "manual_cow_madvise"])
def test_manual_cow(session: KernelSession, path: str) -> None:
    c = session.checks[path]
    assert "error" not in c, c
    assert c["pages"] == c["n"] and c["private_before"] == 0 and c["private_after"] == c["n"]
    assert c["data_ok"] and c["parent_data_ok"]
    assert c["err_overflow"] == errno.EINVAL and c["err_unmapped"] == errno.EFAULT
    if path == "manual_cow_module":
        assert c["err_flags"] == errno.EINVAL


def test_rmmod_after_runs(session: KernelSession) -> None:
    c = session.checks["rmmod"]
    assert c == {"errno": 0, "unloaded": True, "dev_gone": True}
