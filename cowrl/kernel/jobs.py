"""Job files: (trace, policy) runs -> ``job.json`` for the guest, and harness output -> RunRecord.

A job directory holds ``job.json``, one ``traces/<i>.bin`` per trace
(little-endian int64 page indices, what the C harness reads; with
``<i>.regions.bin`` and, for a trace written by several processes, ``<i>.writers.bin``), one
``tables/<run id>.bin`` per table-mode run (``struct cowrl_policy_table``,
from :func:`cowrl.kernel.table.pack_table`, pushed by the harness
with ``COWRL_IOC_SET_POLICY`` mode ``TABLE``) and, after the guest ran,
``guest.json`` and ``runs/<id>/{summary.txt, write_ns.bin, records.bin}``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import CowrlError
from cowrl.kernel.abi import load_abi, load_policy_constants, record_dtype
from cowrl.kernel.guest import FAMILY_MAX_PAGES  # checked against the module in the guest
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.sim.programs import GUARD_TALLY_KEYS, guard_counter
from cowrl.traces.io import Trace

PAGE_SIZE = 4096

HARNESS_ALIGN_PAGES = 512
"""The harness's slot 0 is 2 MiB aligned (``HUGE`` in cowrl_harness.c): 512 pages. Each
region's first slot is congruent modulo this to its virtual page number in the simulator
(:func:`harness_slots`), so aligned groups (guarded's align values, G <= 64) and 2 MiB huge
page boundaries fall on the same pages in the kernel as in the simulator."""


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
    shared: bool = False
    """True: the regions that are other processes' copies of one region (the same virtual
    address and size, another writer: a fork's children's copies of a parent buffer) share
    its harness slots, as after a real fork, so the module sees their faults at the same
    pages (:func:`harness_slots` ``shared``). False: every region its own slots."""


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
    mode: str = "static"
    """``static`` (``k``) or ``table`` (the decision table in ``table``)."""
    table: str = ""
    """Table mode: path of the packed ``struct cowrl_policy_table`` file."""
    regions: str = ""
    """The harness's --regions: path of one (size in pages, first slot) int64 pair per region
    (:func:`harness_slots`); empty for one region at slot 0."""
    writers: str = ""
    """The harness's --writers: path of the process of each write (int64,
    :func:`write_procs`), for a trace written by several processes: the harness replays each
    in its own process. Empty: one process writes the whole trace."""
    region_procs: list[int] = field(default_factory=list)
    """With regions sharing slots (:attr:`RunRequest.shared`): the harness process of each
    region (:func:`write_procs`' numbering), which tells a record's region by its pid
    (:func:`slots_to_pages`); empty otherwise."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KernelPlan:
    """What the harness sets in the module for one policy."""

    mode: str  # "static" | "table"
    k: int
    thp: bool
    table: bytes = b""


SIBLING_AT = 768
"""Offset of ``sibling_window`` in the guarded payload (``struct cowrl_guarded_table``, ABI 16)."""


def table_payload_error(payload: bytes) -> str | None:
    """Why the module would reject ``payload`` as a TABLE entry (``-EINVAL``), or None.

    Mirrors the ioctl's length check and ``cowrl_policy_check()`` of
    ``kernel_module/cowrl_policy.h`` (limits read from that header), so a bad
    table fails on the host with a reason instead of as an errno in the guest.
    """
    c = load_policy_constants()
    size = load_abi().COWRL_POLICY_TABLE_BYTES
    if len(payload) != size:
        return f"{len(payload)} bytes, expected {size} (struct cowrl_policy_table)"
    n_cells = c["COWRL_POLICY_CELLS"]
    version, decide, slots, near, max_k, cells_n, *cells = struct.unpack(
        f"<6I{n_cells}H", payload)
    max_table_k = c["COWRL_POLICY_MAX_K"]
    if version != c["COWRL_POLICY_TABLE_VERSION"]:
        return f"version {version}, expected {c['COWRL_POLICY_TABLE_VERSION']}"
    if cells_n != n_cells:
        return f"n_cells {cells_n}, expected {n_cells}"
    if decide not in (c["COWRL_DECIDE_TABLE"], c["COWRL_DECIDE_READAHEAD"]):
        return f"unknown decide {decide}"
    if not 1 <= slots <= c["COWRL_POLICY_MAX_SLOTS"]:
        return f"slots {slots} outside 1..{c['COWRL_POLICY_MAX_SLOTS']}"
    if not 1 <= near <= c["COWRL_POLICY_MAX_NEAR"]:
        return f"near {near} outside 1..{c['COWRL_POLICY_MAX_NEAR']}"
    if decide == c["COWRL_DECIDE_READAHEAD"] and not 1 <= max_k <= max_table_k:
        return f"readahead max_k {max_k} outside 1..{max_table_k}"
    bad = [i for i, k in enumerate(cells) if k > max_table_k]
    if bad:
        return f"cell {bad[0]} has k={cells[bad[0]]} > {max_table_k}"
    return None


def kernel_plan(policy: Policy) -> KernelPlan:
    """How the module runs ``policy`` (static degree or packed table), else CowrlError."""
    try:
        prog = policy.kernel_program()
    except NotImplementedError as e:
        raise CowrlError(f"policy {policy.name!r} cannot run on the kernel target: {e}") from None
    thp = bool(prog.thp or policy.thp)
    if prog.mode == "table" and isinstance(prog.table, dict) and \
            prog.table.get("decide") == "guarded":
        from cowrl.kernel.table import pack_guarded

        try:
            payload = pack_guarded(prog)
        except (ValueError, KeyError, TypeError, struct.error) as e:
            raise CowrlError(f"policy {policy.name!r}: cannot pack its guarded table: "
                             f"{e!r}") from None
        # The harness pushes a payload of this size as COWRL_POLICY_GUARDED.
        return KernelPlan("table", 0, thp, payload)
    if prog.mode == "table":
        from cowrl.kernel.table import pack_table

        try:
            payload = pack_table(prog)
        except (ValueError, KeyError, TypeError, struct.error) as e:
            raise CowrlError(f"policy {policy.name!r}: cannot pack its decision table: "
                             f"{e!r}") from None
        why = table_payload_error(payload)
        if why:
            raise CowrlError(f"policy {policy.name!r}: the module would reject its decision "
                             f"table: {why}")
        return KernelPlan("table", 0, thp, payload)
    if prog.mode != "static":
        raise CowrlError(f"policy {policy.name!r} needs kernel program mode {prog.mode!r}; "
                         "the module runs 'static' and 'table'")
    max_k = load_abi().COWRL_MAX_K
    if not 0 <= int(prog.k) <= max_k:
        raise CowrlError(f"policy {policy.name!r}: k={prog.k} is outside 0..{max_k}")
    return KernelPlan("static", int(prog.k), thp)


def write_job(jobdir: Path, requests: list[RunRequest], writer: str, paths: dict[str, Any],
              checks: tuple[str, ...] = ()) -> list[RunSpec]:
    """Serialise ``requests`` into ``jobdir`` (traces written once each)."""
    (jobdir / "traces").mkdir(parents=True, exist_ok=True)
    trace_files: dict[int, str] = {}
    specs: list[RunSpec] = []
    for i, req in enumerate(requests):
        plan = kernel_plan(req.policy)
        if not req.module and (plan.k or plan.mode != "static"):
            what = f"k={plan.k}" if plan.mode == "static" else "a decision table"
            raise CowrlError(f"policy {req.policy.name!r} precopies ({what}) and needs the "
                             "module; kernel.module=false runs baseline-like policies only")
        table = ""
        if plan.mode == "table":
            (jobdir / "tables").mkdir(exist_ok=True)
            tfile = jobdir / "tables" / f"r{i:03d}.bin"
            tfile.write_bytes(plan.table)
            table = str(tfile)
        key = id(req.trace)
        if key not in trace_files:
            f = jobdir / "traces" / f"{len(trace_files)}.bin"
            np.ascontiguousarray(req.trace.pages, dtype="<i8").tofile(f)
            trace_files[key] = str(f)
        regions = ""
        slots = harness_slots(req.trace, shared=req.shared)
        if plan.mode == "table" and len(plan.table) > SIBLING_AT and plan.table[SIBLING_AT]:
            # sibling_window: the module keeps a family byte per page of the registered range,
            # at most FAMILY_MAX_PAGES (COWRL_FAMILY_MAX_PAGES; past it REGISTER is -E2BIG)
            span = int(max(req.trace.n_pages, int((slots + req.trace.region_ends
                                                   - req.trace.region_begins).max())))
            if span > FAMILY_MAX_PAGES:
                raise CowrlError(f"policy {req.policy.name!r}: sibling_window needs a range of "
                                 f"at most {FAMILY_MAX_PAGES} pages (the module's family "
                                 f"bytes), trace {req.trace.name!r} spans {span}")
        copies = bool(np.unique(slots).size < slots.size)
        region_procs = region_write_procs(req.trace).tolist() if copies else []
        if slots.size > 1 or slots[0] != 0:
            regions = trace_files[key].replace(
                ".bin", ".shared.regions.bin" if copies else ".regions.bin")
            sizes = req.trace.region_ends - req.trace.region_begins
            np.ascontiguousarray(np.c_[sizes, slots], dtype="<i8").tofile(regions)
        writers = ""
        procs = write_procs(req.trace)
        if procs is not None:
            writers = trace_files[key].replace(".bin", ".writers.bin")
            np.ascontiguousarray(procs, dtype="<i8").tofile(writers)
        label = req.label or (req.policy.name if req.module else f"{req.policy.name}+nomodule")
        specs.append(RunSpec(id=f"r{i:03d}", trace=trace_files[key], n_pages=req.trace.n_pages,
                             k=plan.k, thp=plan.thp, writer=req.writer or writer,
                             module=req.module, policy=label, workload=req.trace.name,
                             mode=plan.mode, table=table, regions=regions,
                             writers=writers, region_procs=region_procs))
    job: dict[str, Any] = {"version": 2, "out": str(jobdir), "checks": list(checks),
                           "runs": [asdict(s) for s in specs], **paths}
    if "table_ioctl" in checks:  # a valid payload for the guest's bad-ioctl check to mutate
        from cowrl.policies.readahead import Readahead

        job["table_payload"] = kernel_plan(Readahead()).table.hex()
        # and a guarded one with interior proofs and proof_ttl, for its -EINVAL cases
        from cowrl.policies.guarded import make_guarded

        job["guarded_payload"] = kernel_plan(make_guarded(proof=1, proof_ttl=4)).table.hex()
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


@dataclass
class DemandEvents:
    """The module's demand-fault records of one run, in fault (ring) order."""

    page: np.ndarray
    """Faulting page index within the region."""
    degree: np.ndarray
    """Degree k the module applied (TABLE: decided by ``cowrl_policy_fault``)."""
    precopied: np.ndarray
    """Pages the fault's precopy made private."""
    pid: np.ndarray
    """The faulting process (its tgid in the registrant's namespace): one per writer role of
    a trace of several writers (the harness's --writers)."""


def harness_slots(trace: Trace, shared: bool = False) -> np.ndarray:
    """The harness slot of each region's first page (slot ``s`` is page ``s`` of a 2 MiB
    aligned range; see kernel_module/harness/cowrl_harness.c).

    Region ``r`` goes at the first slot after region ``r - 1`` and at least one
    ``PROT_NONE`` guard slot (so regions stay separate VMAs) that is congruent modulo
    :data:`HARNESS_ALIGN_PAGES` to the simulator's virtual page number of its first page,
    ``region_begins[r] + region_vpn_offsets[r]`` (:attr:`Trace.region_vpn_offsets`: the
    recorded address, or without ``region_starts`` the page index). So a fault's virtual
    page number in the harness equals the simulator's modulo 512, for every trace. One
    region whose first page's number is 0 modulo 512 (every trace without
    ``region_starts``) lies at slot 0 as ever.

    ``shared``: a region at the same virtual page and of the same size as an earlier one, of
    another harness process (:func:`region_write_procs`) than every region already there,
    takes the earlier one's slots: another process's copy of it, as a fork's children hold
    their copies of a parent buffer (the harness checks that each copy is written by its own
    process). Which regions are copies: :func:`cowrl.sim.engine.copy_origins`, the rule the
    simulator's one-address layout reads too."""
    from cowrl.sim.engine import copy_origins

    begins = trace.region_begins
    sizes = trace.region_ends - begins
    vpn0 = begins + trace.region_vpn_offsets
    origin = copy_origins(trace) if shared else np.arange(begins.size)
    slots = np.empty(begins.size, dtype=np.int64)
    nxt = 0  # first slot the next region may take
    for r in range(begins.size):
        if origin[r] != r:  # another process's copy: the slots of the region it copies
            slots[r] = slots[origin[r]]
            continue
        slots[r] = nxt + (int(vpn0[r]) - nxt) % HARNESS_ALIGN_PAGES
        nxt = int(slots[r] + sizes[r]) + 1
    return slots


def region_write_procs(trace: Trace) -> np.ndarray:
    """The harness process of each region (:func:`write_procs`' numbering: its writer role's
    ordinal, capped at ``G_PROCS - 1``)."""
    from cowrl.sim.programs import G_PROCS

    return np.minimum(trace.region_procs, G_PROCS - 1).astype(np.int64)


def write_procs(trace: Trace) -> np.ndarray | None:
    """The harness process of each write: its region's ordinal (:attr:`Trace.region_procs`,
    the writer roles numbered by first write) capped at ``G_PROCS - 1`` (15: the 16th role and
    every later one share the last process, as they share the module's last ordinal,
    ``COWRL_GUARDED_PROCS``); None when one process writes the whole trace (no
    ``region_writers``, or one role). So the module numbers the harness's processes by first
    fault as the simulator numbers the roles."""
    from cowrl.sim.programs import G_PROCS

    procs = np.minimum(trace.region_procs, G_PROCS - 1)
    if not procs.any():
        return None
    return procs[trace.region_of(trace.pages)]


def _read_regions(spec: RunSpec) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, first slots) of the run's --regions file."""
    pairs = np.fromfile(spec.regions, dtype="<i8").reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def slots_to_pages(slots: np.ndarray, spec: RunSpec, pids: np.ndarray | None = None
                   ) -> np.ndarray:
    """Harness slot indices -> trace page indices (regions at :func:`harness_slots`;
    see kernel_module/harness/cowrl_harness.c). With regions sharing slots
    (:attr:`RunSpec.region_procs`) ``pids``, the records' pids, tell the copies apart: the
    harness process of a pid is its rank by first record (process k first writes, and so
    faults, after process k - 1)."""
    if not spec.regions:
        return slots
    sizes, slot_first = _read_regions(spec)
    if spec.region_procs:
        if pids is None or pids.size != slots.size:
            raise CowrlError(f"kernel run {spec.id}: regions share slots; the records' pids "
                             "tell them apart")
        upids, first = np.unique(pids, return_index=True)
        rank = np.empty(upids.size, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(upids.size)
        proc = rank[np.searchsorted(upids, pids)]
        begins = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        out = np.full(slots.size, -1, dtype=np.int64)
        for r, rp in enumerate(spec.region_procs):
            m = (slots >= slot_first[r]) & (slots < slot_first[r] + sizes[r]) & (proc == rp)
            out[m] = slots[m] - slot_first[r] + begins[r]
        if np.any(out < 0):
            raise CowrlError(f"kernel run {spec.id} ({spec.policy} on {spec.workload}): "
                             f"{int((out < 0).sum())} module record(s) in no region of "
                             "their process")
        return out
    shift = slot_first - np.concatenate([[0], np.cumsum(sizes)[:-1]])
    r = np.searchsorted(slot_first, slots, side="right") - 1
    gap = (r < 0) | (slots >= slot_first[r] + sizes[r])
    if np.any(gap):
        raise CowrlError(f"kernel run {spec.id} ({spec.policy} on {spec.workload}): "
                         f"{int(gap.sum())} module record(s) in the guard slots between "
                         f"regions (first: slot {int(slots[np.argmax(gap)])})")
    return slots - shift[r]


def demand_events(jobdir: Path, spec: RunSpec) -> DemandEvents | None:
    """The demand records of run ``spec`` (None without the module or its files)."""
    rdir = jobdir / "runs" / spec.id
    rec_file, summ = rdir / "records.bin", rdir / "summary.txt"
    if not spec.module or not rec_file.is_file() or not summ.is_file():
        return None
    start = np.uint64(read_summary(summ)["region_start"])
    recs = np.fromfile(rec_file, dtype=record_dtype())
    demand = recs[(recs["flags"] & load_abi().COWRL_REC_DEMAND) != 0]
    slots = ((demand["addr"] - start) // PAGE_SIZE).astype(np.int64)
    return DemandEvents(page=slots_to_pages(slots, spec, demand["pid"].astype(np.int64)),
                        degree=demand["degree"].astype(np.int64),
                        precopied=demand["precopied"].astype(np.int64),
                        pid=demand["pid"].astype(np.int64))


def runner_facts(jobdir: Path) -> dict[str, Any]:
    """What the runner wrote about the session (``runner.json``: accel, ``icount`` = the
    guest clock, ``off`` or qemu's -icount argument); {} if absent."""
    f = jobdir / "runner.json"
    try:
        return dict(json.loads(f.read_text()))
    except (OSError, ValueError):
        return {}


def _region_pages(addr: np.ndarray, region_start: int, n_pages: int, spec: RunSpec
                  ) -> np.ndarray:
    """Page indices of module records in the run's region; CowrlError for foreign ones.

    The module only records faults inside the registered range, so an address
    outside the region means the records belong to another run or region (a
    stale ``records.bin``, a mixed-up job directory): fail saying so.
    """
    a = addr.astype(np.int64)  # user-space addresses fit in int64
    off = a - np.int64(region_start)
    bad = (off < 0) | (off >= np.int64(n_pages) * PAGE_SIZE)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise CowrlError(
            f"kernel run {spec.id} ({spec.policy} on {spec.workload}): {int(bad.sum())} "
            f"module record(s) outside its region of {n_pages} pages at {region_start:#x} "
            f"(first: {int(a[i]):#x}); they belong to another run or region")
    return off // PAGE_SIZE


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
        # a multi-region run's records are in harness slots (harness_slots: guard gaps)
        slots = _region_pages(demand["addr"], int(s["region_start"]),
                              int(s.get("n_slots", trace.n_pages)), spec)
        pages = slots_to_pages(slots, spec, demand["pid"].astype(np.int64))
        widx = first[pages]
        order = np.argsort(widx, kind="stable")
        widx = widx[order]
        fault_ns = write_ns[widx[widx >= 0]]
        # latency=0 (module parameter): records carry no in-kernel latency, so no kfault_*
        if demand.size and demand["latency_ns"].any():
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
        # Non-zero ones make the harness exit 3 (no row: the run fails, naming them); in a
        # row they are 0, and present so every row says so.
        "nmissed": int(s.get("nmissed", 0)),
        "dropped": int(s.get("dropped", 0)),
        "work_failed": int(s.get("work_failed", 0)),
        "throttled": int(s.get("throttled", 0)),
        "integrity_ok": bool(s["writer_ok"] and s["holder_ok"]),
        "thp": bool(spec.thp),
        "thp_backed": int(s.get("anon_huge_kb", 0)) > 0,
        "anon_huge_kb": int(s.get("anon_huge_kb", 0)),
        "thp_setting": s.get("thp_setting", ""),
        "k": spec.k,
        "mode": spec.mode,
        "writer": spec.writer,
        "module": spec.module,
        "private_pages": int(s["private_pages"]),
        "precopy_skipped": int(s.get("precopy_skipped", 0)),
        "out_of_scope": int(s.get("out_of_scope", 0)),
        "unmatched_faults": unmatched,
        "elapsed_ns": int(s["elapsed_ns"]),
        "icount": runner_facts(jobdir).get("icount", "unknown"),
        **info,
    }
    if spec.module:  # interior proofs (guarded tables with proof = 1; 0 otherwise)
        for name in ("proof_clean", "proof_lost", "proof_credited", "proof_reads",
                     "proof_foreign"):
            extra[name] = int(s.get(name, 0))
        # the GUARDED decision tallies (ABI 17, 18; 0 otherwise): guard_<name> for each name of
        # cowrl.sim.programs.guarded_tallies, what SimEvents.tallies holds for the same trace
        for name in GUARD_TALLY_KEYS:
            extra[f"guard_{name}"] = guard_counter(name, int(s.get(f"guard_{name}", 0)))
    if spec.mode == "table":  # per-decision cost in the module (ktime around the call)
        n_dec = int(s.get("decisions", 0))
        extra["decisions"] = n_dec
        extra["decide_avg_ns"] = int(s.get("decide_ns", 0)) / n_dec if n_dec else 0.0
        # the same interval with nothing in it: decide_avg_ns minus this = the call alone
        extra["decide_clock_avg_ns"] = (int(s.get("decide_clock_ns", 0)) / n_dec
                                        if n_dec else 0.0)
    extra.pop("run_error", None)
    return RunRecord(policy=spec.policy, workload=spec.workload, target="kernel",
                     n_pages=trace.n_pages, writes=int(s["writes"]), faults=faults,
                     precopied=precopied, wasted=int(s["wasted"]), fault_ns=fault_ns,
                     write_ns=write_ns, extra=extra)
