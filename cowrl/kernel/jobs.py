"""Job files: (trace, policy) runs -> ``job.json`` for the guest, and harness output -> RunRecord.

A job directory holds ``job.json``, one ``traces/<i>.bin`` per trace
(little-endian int64 page indices, what the C harness reads) and, after the
guest ran, ``guest.json`` and ``runs/<id>/{summary.txt, write_ns.bin,
records.bin}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import CowrlError
from cowrl.kernel.abi import load_abi, record_dtype
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.traces.io import Trace

PAGE_SIZE = 4096


@dataclass
class RunRequest:
    """One harness run: a trace replayed under a policy."""

    trace: Trace
    policy: Policy
    module: bool = True
    """False: run the harness with the module unloaded (baseline only; measures overhead)."""
    writer: str | None = None
    """``child``/``parent``; None = the config's writer."""
    label: str | None = None
    """Policy name to report (default: the policy's name, suffixed ``+nomodule``)."""


@dataclass
class RunSpec:
    """The serialised form of a RunRequest, as the guest sees it."""

    id: str
    trace: str
    n_pages: int
    k: int
    thp: bool
    writer: str
    module: bool
    policy: str
    workload: str
    extra: dict[str, Any] = field(default_factory=dict)


def kernel_degree(policy: Policy) -> tuple[int, bool]:
    """(k, thp) of a policy that the module can run, else CowrlError."""
    try:
        prog = policy.kernel_program()
    except NotImplementedError as e:
        raise CowrlError(f"policy {policy.name!r} cannot run on the kernel target: {e}") from None
    if prog.mode != "static":
        raise CowrlError(f"policy {policy.name!r} needs kernel program mode {prog.mode!r}; "
                         "this module supports 'static' only")
    max_k = load_abi().COWRL_MAX_K
    if not 0 <= int(prog.k) <= max_k:
        raise CowrlError(f"policy {policy.name!r}: k={prog.k} is outside 0..{max_k}")
    return int(prog.k), bool(prog.thp or policy.thp)


def write_job(jobdir: Path, requests: list[RunRequest], writer: str, paths: dict[str, Any],
              checks: tuple[str, ...] = ()) -> list[RunSpec]:
    """Serialise ``requests`` into ``jobdir`` (traces written once each)."""
    (jobdir / "traces").mkdir(parents=True, exist_ok=True)
    trace_files: dict[int, str] = {}
    specs: list[RunSpec] = []
    for i, req in enumerate(requests):
        k, thp = kernel_degree(req.policy)
        if not req.module and k:
            raise CowrlError(f"policy {req.policy.name!r} precopies (k={k}) and needs the "
                             "module; kernel.module=false runs baseline-like policies only")
        key = id(req.trace)
        if key not in trace_files:
            f = jobdir / "traces" / f"{len(trace_files)}.bin"
            np.ascontiguousarray(req.trace.pages, dtype="<i8").tofile(f)
            trace_files[key] = str(f)
        label = req.label or (req.policy.name if req.module else f"{req.policy.name}+nomodule")
        specs.append(RunSpec(id=f"r{i:03d}", trace=trace_files[key], n_pages=req.trace.n_pages,
                             k=k, thp=thp, writer=req.writer or writer, module=req.module,
                             policy=label, workload=req.trace.name))
    job = {"version": 1, "out": str(jobdir), "checks": list(checks),
           "runs": [asdict(s) for s in specs], **paths}
    (jobdir / "job.json").write_text(json.dumps(job, indent=1))
    return specs


def read_summary(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        k, _, v = line.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            out[k] = v
    return out


def first_write_index(pages: np.ndarray, n_pages: int) -> np.ndarray:
    """For each page, the index of its first write in the trace (-1 if never written)."""
    first = np.full(n_pages, -1, dtype=np.int64)
    uniq, idx = np.unique(pages, return_index=True)
    first[uniq] = idx
    return first


def parse_run(jobdir: Path, spec: RunSpec, trace: Trace, info: dict[str, Any]) -> RunRecord:
    """Join the harness timings and the module's records into one RunRecord."""
    rdir = jobdir / "runs" / spec.id
    if not (rdir / "summary.txt").is_file():
        raise CowrlError(f"kernel run {spec.id} ({spec.policy} on {spec.workload}) produced "
                         f"no results: {info.get('run_error', 'see ' + str(jobdir))}")
    s = read_summary(rdir / "summary.txt")
    write_ns = np.fromfile(rdir / "write_ns.bin", dtype="<u8").astype(np.float64)
    first = first_write_index(trace.pages, trace.n_pages)
    abi = load_abi()
    kfault = np.zeros(0)
    if spec.module:
        rec_file = rdir / "records.bin"
        recs = np.fromfile(rec_file, dtype=record_dtype()) if rec_file.is_file() else None
        if recs is None:
            recs = np.zeros(0, dtype=record_dtype())
        demand = recs[(recs["flags"] & abi.COWRL_REC_DEMAND) != 0]
        pages = ((demand["addr"] - np.uint64(s["region_start"])) // PAGE_SIZE).astype(np.int64)
        widx = first[pages]
        order = np.argsort(widx, kind="stable")
        widx = widx[order]
        fault_ns = write_ns[widx[widx >= 0]]
        kfault = (demand["latency_ns"] + demand["work_ns"]).astype(np.float64)[order]
        faults = int(s["demand_faults"])
        precopied = int(s["precopy_copies"])
        unmatched = int((widx < 0).sum())
    else:  # no module: every first write to a shared page is a demand fault
        widx = np.sort(first[first >= 0])
        fault_ns = write_ns[widx]
        faults, precopied, unmatched = int(widx.size), 0, 0
    extra: dict[str, Any] = {
        "kfault_avg_ns": float(kfault.mean()) if kfault.size else 0.0,
        "kfault_min_ns": float(kfault.min()) if kfault.size else 0.0,
        "kfault_max_ns": float(kfault.max()) if kfault.size else 0.0,
        "nmissed": int(s.get("nmissed", 0)),
        "dropped": int(s.get("dropped", 0)),
        "integrity_ok": bool(s["writer_ok"] and s["holder_ok"]),
        "thp": bool(spec.thp),
        "thp_backed": int(s.get("anon_huge_kb", 0)) > 0,
        "anon_huge_kb": int(s.get("anon_huge_kb", 0)),
        "thp_setting": s.get("thp_setting", ""),
        "k": spec.k,
        "writer": spec.writer,
        "module": spec.module,
        "private_pages": int(s["private_pages"]),
        "precopy_skipped": int(s.get("precopy_skipped", 0)),
        "out_of_scope": int(s.get("out_of_scope", 0)),
        "unmatched_faults": unmatched,
        "elapsed_ns": int(s["elapsed_ns"]),
        **info,
    }
    extra.pop("run_error", None)
    return RunRecord(policy=spec.policy, workload=spec.workload, target="kernel",
                     n_pages=trace.n_pages, writes=int(s["writes"]), faults=faults,
                     precopied=precopied, wasted=int(s["wasted"]), fault_ns=fault_ns,
                     write_ns=write_ns, extra=extra)
