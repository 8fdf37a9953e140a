"""The kernel target for real: one qemu boot (session fixture) runs the whole batch.

It also holds the TABLE-mode equivalence test: the module's demand-fault
records (page, degree, pages precopied) under a pushed decision table equal
the simulator's events for the same Python policy, fault for fault.

Deselect with ``-m "not kernel"``. Needs qemu-system-x86, busybox-static,
cpio, gcc, make and a linux-headers/linux-image pair (``.ci/run`` installs them).
"""

from __future__ import annotations

import errno
import functools
import re

import numpy as np
import pytest

from cowrl.cli import KERNEL_RELEASES
from cowrl.kernel.abi import load_abi
from cowrl.kernel.backend import KernelSession, run_session
from cowrl.kernel.jobs import RunRequest
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.policies.context import GAP_BUCKETS, RATE_BUCKETS, RUN_BUCKETS
from cowrl.policies.readahead import Readahead
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.policies.table import TablePolicy
from cowrl.registry import make_costmodel, make_workload
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



def _named(trace: Trace, name: str) -> Trace:
    return Trace(trace.pages, trace.n_pages, name=name)


# TABLE mode: small traces from the suite's generators (sequential, interleaved streams,
# phased sequential/random, uniform random).
EQ_TRACES = {
    "eq_seq": _named(make_workload("seq", n_pages=1024), "eq_seq"),
    "eq_interleaved": _named(make_workload("interleaved", seed=1, n_pages=2048), "eq_interleaved"),
    "eq_phased": _named(make_workload("phased", seed=2, n_pages=1024, writes=2048,
                                      phase_writes=256), "eq_phased"),
    "eq_random": _named(make_workload("random", seed=3, n_pages=1024, writes=1024), "eq_random"),
    # Streams that run into the next region (a VMA behind a guard page in the harness): the
    # module once continued none of them and the simulator all (docs/kernel.md).
    "eq_regions": Trace(np.arange(1024), 1024, name="eq_regions",
                        region_sizes=np.array([5, 3, 64, 2, 950])),
}


def hand_table() -> list[int]:
    """A non-trivial cell -> k table: grows with the run, rate-dependent, near-gap strides."""
    cells = []
    for gap_b in range(GAP_BUCKETS):
        for run_b in range(RUN_BUCKETS):
            for rate_b in range(RATE_BUCKETS):
                if gap_b == 0:  # no stream matched
                    k = (0, 0, 1, 3)[rate_b]
                elif gap_b == 1:  # exact continuation
                    k = (1, 2, 4, 8, 32)[run_b] * (2 if rate_b == 3 else 1)
                else:  # near-forward gap
                    k = (0, 1, 2, 5, 7)[run_b] + rate_b
                cells.append(k)
    return cells


# Instantiated as tests/test_policy_equivalence.py does.
EQ_POLICIES = {
    "readahead": Readahead,
    "readahead8": lambda: Readahead(max_k=8, context={"slots": 2, "near": 4}),
    "table_hand": lambda: TablePolicy(hand_table(), context={"slots": 4, "near": 8},
                                      name="table_hand"),
}


def _guarded_policies() -> dict:
    """The shipped guarded table (seed_table1 budget) and a random table with a loose budget
    (windows of every degree, sentinel hits and misses)."""
    from pathlib import Path

    import yaml

    from cowrl.policies.guarded import (
        ALIGN,
        ALIGN_GROUPS,
        N_CELLS,
        GuardedPolicy,
        make_guarded,
        shipped_options,
    )

    shipped = yaml.safe_load((Path(__file__).parents[2] / "conf/policy/guarded.yaml")
                             .read_text())["table"]
    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                             size=N_CELLS)]
    # align values (to the end of the fault's aligned group, from its virtual page number)
    rand_align = [int(k) for k in np.random.default_rng(1).choice(
        [0, 1, 2, 4, 8, 16, 32, 64, *(ALIGN | g for g in ALIGN_GROUPS)], size=N_CELLS)]
    return {"guarded": lambda: make_guarded(table=shipped),
            "guarded_loose": lambda: GuardedPolicy(table=rand, budget_per_mille=1000,
                                                   skip_ns=300, setup_ns=900,
                                                   name="guarded_loose"),
            # version 4, interior proofs: the module cleans each copy's dirty bit and reads
            # it back at later faults (written()); credit comes only from those proofs. With
            # the shipped options (conf/policy/guarded.yaml: proof 1, 8 reads, proof_ttl 16).
            "guarded_proof": lambda: make_guarded(table=shipped, **shipped_options(),
                                                  name="guarded_proof"),
            "guarded_loose_proof": lambda: GuardedPolicy(table=rand, budget_per_mille=1000,
                                                         skip_ns=300, setup_ns=900, proof=1,
                                                         proof_reads=16,
                                                         name="guarded_loose_proof"),
            # proof_ttl: an entry read unwritten proof_ttl times leaves the ring
            "guarded_proof_ttl": lambda: make_guarded(table=shipped, proof=1, proof_reads=8,
                                                      proof_ttl=2, name="guarded_proof_ttl"),
            "guarded_loose_proof_ttl": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=16, proof_ttl=2, name="guarded_loose_proof_ttl"),
            # proof_backoff: an entry read unwritten m times is read again 2^m faults later
            # (the look steps over it, at most 4 x proof_reads slots per fault)
            "guarded_proof_backoff": lambda: make_guarded(
                table=shipped, **{**shipped_options(), "proof_backoff": 1},
                name="guarded_proof_backoff"),
            "guarded_loose_proof_backoff": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1,
                name="guarded_loose_proof_backoff"),
            # walk_ns (make_guarded with proof 1 sets it from the cost model; here dear, so
            # that the budget cuts looks short): the budget pays each slot stepped over unread
            "guarded_loose_proof_walk": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000,
                name="guarded_loose_proof_walk"),
            # walk_empty_ns: an empty slot's own price (make_guarded: ceil(proof_step_ns));
            # here cheaper than a live entry's, both dear enough that looks are cut
            "guarded_loose_proof_walk2": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000, walk_empty_ns=150,
                name="guarded_loose_proof_walk2"),
            # proof_look: a look counts down the live entries of its region's bucket only
            # (the bucket: a hash of the region's first vpn mod 512 and its size, which the
            # harness's slots keep); on the multi-region traces it decides otherwise
            "guarded_loose_proof_look": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000, walk_empty_ns=150,
                proof_look=1, name="guarded_loose_proof_look"),
            # proof_span: a look walks only the ring's span [tail, head) and is skipped while
            # no entry of its bucket is due (the look policy above, plus the span)
            "guarded_loose_proof_span": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000, walk_empty_ns=150,
                proof_look=1, proof_span=1, name="guarded_loose_proof_span"),
            # proof_skipmap (ABI 11, at 754): a look jumps from an empty slot to the next live
            # one (the state's live-slot bitmap) for one walk_empty_ns (the span policy above,
            # plus the jumps)
            "guarded_loose_proof_skipmap": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000, walk_empty_ns=150,
                proof_look=1, proof_span=1, proof_skipmap=1,
                name="guarded_loose_proof_skipmap"),
            # proof_duemap (ABI 12, at 756): a look also jumps over the entries not yet due
            # (walk_due_ns a jump) and refreshes its due map (walk_scan_ns per waiting
            # entry) (the skipmap policy above, plus the due map)
            "guarded_loose_proof_duemap": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000, walk_empty_ns=150,
                proof_look=1, proof_span=1, proof_skipmap=1, proof_duemap=1, walk_due_ns=200,
                walk_scan_ns=40, name="guarded_loose_proof_duemap"),
            # proof_cutback (ABI 13, the u8 at 751): a look cut by the budget puts its
            # bucket's next look off 2^c faults (c <= 3 the cuts since its last proof) (the
            # due-map policy above, plus the cutback)
            "guarded_loose_proof_cutback": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000, walk_empty_ns=150,
                proof_look=1, proof_span=1, proof_skipmap=1, proof_duemap=1, walk_due_ns=200,
                walk_scan_ns=40, proof_cutback=3, name="guarded_loose_proof_cutback"),
            # read_credit: a proof also credits the reserved reads its copy did not use,
            # (proof_ttl - proof_miss) * read_ns (make_guarded: floor(proof_read_ns); here
            # dear, so that it changes decisions)
            "guarded_loose_proof_read": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, walk_ns=4000, walk_empty_ns=150,
                read_credit=1, read_ns=3000, name="guarded_loose_proof_read"),
            # floor_slow (ABI 10, at 752): the floor also reads a slower EWMA (weight 1/2^s,
            # 8 more bits) of the sentinel outcomes. With grant_left 0 and floor 128 it holds
            # windows on g_random; with floor 144 (above use's start) on the other traces; and
            # the candidate itself, the shipped options plus floor_slow 5
            # (test_floor_slow_is_not_trivial: each decides otherwise than floor_slow 0)
            "guarded_loose_fslow": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, grant_left=0,
                floor=128, floor_slow=5, name="guarded_loose_fslow"),
            "guarded_loose_proof_fslow": lambda: GuardedPolicy(
                table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=2, proof_ttl=4, proof_backoff=1, floor=144, floor_slow=8,
                name="guarded_loose_proof_fslow"),
            "guarded_proof_fslow": lambda: make_guarded(
                table=shipped, **{**shipped_options(), "floor_slow": 5},
                name="guarded_proof_fslow"),
            "guarded_align_loose_proof": lambda: GuardedPolicy(
                table=rand_align, budget_per_mille=1000, skip_ns=300, setup_ns=900, proof=1,
                proof_reads=16, proof_ttl=16, name="guarded_align_loose_proof"),
            # the shipped options but a free walk (walk_ns 0): with the walk paid the budget
            # opens almost no window on the short recorded-address trace (g_rec), and this
            # policy is there to exercise align windows at recorded addresses
            "guarded_align16_proof": lambda: make_guarded(
                table=[ALIGN | 16] * N_CELLS, **{**shipped_options(), "walk_ns": 0},
                name="guarded_align16_proof")}


def _guarded_traces() -> dict[str, Trace]:
    from cowrl.traces import generators as g

    multi = g.block_stride(n_pages=1024, block=5, gap=2)
    # Three regions, no recorded addresses: the simulator's vpn is the page index, and the
    # harness maps each region at a slot congruent to it modulo 512 (harness_slots).
    pool = g.alloc_pool(n_pages=1024, sizes=(2, 4), density=0.8, whole=0.7, streams=2, seed=3)
    return {"g_seq": _named(make_workload("seq", n_pages=1024), "g_seq"),
            "g_pool": _named(pool, "g_pool"),
            "g_block": _named(g.block_stride(n_pages=1024, block=3, gap=3), "g_block"),
            "g_random": _named(make_workload("random", seed=3, n_pages=1024, writes=1024),
                               "g_random"),
            "g_multi": Trace(multi.pages, multi.n_pages, name="g_multi",
                             region_sizes=np.array([300, 211, 513]))}


# Regions at recorded addresses aligned neither like their page indices nor like the harness's
# old layout (page p of region r at slot p + r): first pages at vpn 3, 45 and 17 modulo 64.
REC_STARTS = np.array([0x7F1234000 + 3, 0x7F1234200 + 45, 0x55AB00400 + 17]) * 4096


def _rec_trace() -> Trace:
    from cowrl.traces import generators as g

    pool = g.alloc_pool(n_pages=1024, sizes=(2, 3, 4), density=0.9, whole=0.6, streams=2,
                        seed=5)
    return Trace(pool.pages, pool.n_pages, name="g_rec", region_sizes=np.array([300, 211, 513]),
                 region_starts=REC_STARTS.astype(np.uint64))


@functools.cache
def _trained_bandit_artifact() -> str:
    """The default bandit (shielded, guarded's cells) trained briefly in the simulator and
    saved as its artifact. Its budget is frozen at seed_table1's prices (under tcg, the
    guest's own model, no window would open: the equality would be vacuous)."""
    import tempfile
    from pathlib import Path

    import yaml
    from omegaconf import OmegaConf

    from cowrl.policies.artifacts import ARTIFACT_NAME, save_artifact
    from cowrl.registry import make_policy
    from cowrl.sim.simulator import simulate
    from cowrl.traces import generators as g

    cost = make_costmodel("seed_table1")
    cfg = yaml.safe_load((Path(__file__).parents[2] / "conf/policy/bandit.yaml").read_text())
    policy = make_policy(OmegaConf.create({**cfg, "costmodel": "seed_table1", "lam": 1.0}))
    for r in range(3):
        for t in (make_workload("seq", seed=r, n_pages=1024), g.randomized(seed=r, draw=1),
                  g.randomized(seed=r, draw=4), make_workload("interleaved", seed=r)):
            policy.begin_episode(t, cost, 1.0)
            simulate(t, policy, cost)
            policy.end_episode()
    frozen = policy.freeze()
    out = Path(tempfile.mkdtemp(prefix="cowrl_bandit_")) / ARTIFACT_NAME
    return str(save_artifact(out, "bandit", frozen.artifact_kind, frozen.artifact_spec(), cfg))


def _trained_bandit() -> Policy:
    from cowrl.policies.artifacts import load_policy

    return load_policy(_trained_bandit_artifact(), name="bandit_shielded")


GUARDED_POLICIES = {**_guarded_policies(), "bandit_shielded": _trained_bandit}


def _inert_guarded() -> Policy:
    """The shipped guarded (table and options) with tcg's budget, the guest's own cost model:
    no allowance, so inert (STATIC k = 0)."""
    from cowrl.policies.guarded import make_guarded, shipped_options

    shipped = _guarded_policies()["guarded"]().table
    return make_guarded(table=shipped, costmodel="tcg", **shipped_options(),
                        name="guarded_inert")
GUARDED_TRACES = _guarded_traces()
REC_TRACE = _rec_trace()
# align values in every cell (align16), in some cells at random (G 2..64), the shipped table
REC_POLICIES = ("guarded_align16_proof", "guarded_align_loose_proof", "guarded_proof",
                "guarded_loose_proof_look")

pytestmark = pytest.mark.kernel


# Write shapes no generator of cowrl.traces makes (from session 19's audit of the kernel target
# on unseen patterns, docs/results/kernel-unseen-shapes-1ecc2ee.md, where every count agreed): a
# ring buffer that wraps at the region's end onto its start and then runs into the pages it made
# private on the first lap, and a copying GC's semispace flip (forwarding writes scattered over
# from-space, copies appended at to-space's tail). experiments/novel_patterns.py has a ring log
# and a copying GC of its own (other shapes), in the simulator only.
def _ring_wrap(ring: int = 1024, laps: float = 1.5, seed: int = 0) -> Trace:
    """Records of 1..6 pages appended from 60% of the ring; a record that does not fit wraps
    to page 1; the control page 0 is rewritten every 32 records."""
    rng = np.random.default_rng(seed)
    w: list[int] = []
    head, total, n = int(0.6 * ring), 0, 0
    while total < laps * ring:
        size = int(rng.integers(1, 7))
        if head + size > ring:
            head = 1
        w += range(head, head + size)
        head, total, n = head + size, total + size, n + 1
        if n % 32 == 0:
            w.append(0)
    return Trace(np.array(w), ring, name="n_ringwrap")


def _semispace(half: int = 1024, seed: int = 0) -> Trace:
    """For each live object (60% of from-space's objects of 1..3 pages, in shuffled order):
    its forwarding header in from-space, then its copy at to-space's tail; every 8 objects a
    write behind the tail (the scan pointer)."""
    rng = np.random.default_rng(seed)
    objs, p = [], 0
    while p < half:
        size = min(int(rng.integers(1, 4)), half - p)
        objs.append((p, size))
        p += size
    live = [o for o in objs if rng.random() < 0.6]
    w: list[int] = []
    tail = scan = half
    for i, j in enumerate(rng.permutation(len(live))):
        start, size = live[j]
        w.append(start)
        w += range(tail, tail + size)
        tail += size
        if i % 8 == 7:
            scan = min(scan + 5, tail - 1)
            w.append(scan)
    return Trace(np.array(w), 2 * half, name="n_semispace")


def _shield64() -> Policy:
    """The shield alone as conf/policy/shield64.yaml ships it, at seed_table1's budget."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from cowrl.registry import make_policy

    cfg = OmegaConf.load(Path(__file__).parents[2] / "conf/policy/shield64.yaml")
    return make_policy(OmegaConf.merge(cfg, {"costmodel": "seed_table1"}))


def _bottom_up_rows(rows: int = 128) -> Trace:
    """6-page image rows written bottom-up, each left to right (session 20's kernel audit,
    docs/results/unseen-shapes-s20-97558ed.md): a window at a row's first page covers the
    row's 5 shared pages, then rows written earlier, private."""
    return Trace(np.concatenate([r * 6 + np.arange(6) for r in range(rows - 1, -1, -1)]),
                 rows * 6, name="n_bottomup")


NOVEL_TRACES = {t.name: t for t in (_ring_wrap(), _semispace(), _bottom_up_rows())}


def _forked_trace() -> Trace:
    """Four forked children (region_writers 1..4) rewriting their own copy of one 256-page
    buffer at one address, in turns of 32 writes (experiments/guarded_ttl.py's ``forked``
    layout): the harness replays each in a process of its own, and the module numbers them
    by their first fault (cowrl_guarded_proc), as the simulator by their first write."""
    from dataclasses import replace

    from conftest import load_experiment

    from cowrl.traces import generators as g

    parts = [g.sequential(n_pages=256, writes=180), g.uniform(n_pages=256, writes=200, seed=3),
             g.sequential(n_pages=256), g.block_stride(n_pages=256, block=3, gap=3)]
    t = load_experiment("guarded_ttl").multi_region(parts, "forked", chunk=32)
    return replace(t, name="g_forked")


FORK_TRACE = _forked_trace()
FORK_SHARED = Trace(FORK_TRACE.pages, FORK_TRACE.n_pages, name="g_forked_shared",
                    region_sizes=FORK_TRACE.region_sizes,
                    region_starts=FORK_TRACE.region_starts,
                    region_writers=FORK_TRACE.region_writers)
"""The forked trace with the four children's copies of the buffer at the same pages of the
registered range (``RunRequest(shared=True)``: ``harness_slots(shared=True)``), as a real
prefork server's children hold them: each child's looks meet its siblings' ring entries."""
SHARED_POLICIES = ("guarded_loose_proof", "guarded_loose_proof_ttl", "guarded_loose_proof_look",
                   "guarded_loose_proof_duemap")
REFUSAL_POLICY = "guarded_loose_protect"
"""ABI 18: on the forked copies at one address, a random table with a budget tight beside its
setup (allowance 1773 ns, setup_ns 3000) and protect: windows refused for each of the three
reasons (the simulator: 7 below setup_ns, 12 by protect's cap, 157 by no candidate fitting;
protect's cap leaves no degree only where a sibling's window has its live sentinel)."""


def _refusal_policy() -> Policy:
    from cowrl.policies.guarded import N_CELLS, GuardedPolicy

    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                             size=N_CELLS)]
    return GuardedPolicy(table=rand, budget_per_mille=100, skip_ns=300, setup_ns=3000,
                         protect=True, name=REFUSAL_POLICY)


FORK_POLICIES = ("guarded", "guarded_loose", "guarded_proof", "guarded_loose_proof",
                 "guarded_loose_proof_look", "guarded_loose_proof_duemap")
"""On the forked trace (one process per writer): the shipped table, a loose one, with proofs,
and the own-bucket look (where the process ordinal is in the bucket key)."""
NOVEL_POLICIES = {"shield64": _shield64, "bandit_shielded": _trained_bandit,
                  "readahead": Readahead}


def _sibling_trace() -> Trace:
    """A parent and three children (generators.forked_workers) rewriting their copies of one
    2048-page buffer at one address, the children repeating each other's requests (overlap
    0.95, sequential): the case the sibling window is for."""
    from dataclasses import replace

    from cowrl.traces import generators as g

    t = g.forked_workers(n_pages=2048, children=3, overlap=0.95, order="sequential", chunk=32,
                         seed=1)
    return replace(t, name="g_siblings")


def _sibling(gate: int) -> Policy:
    """shield64 at seed_table1's budget with the sibling window (W = 16, the expected-loss
    stake) and its gate m (0: ungated), as docs/results/sibling-gate-s35.md measured it."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from cowrl.registry import make_policy

    cfg = OmegaConf.load(Path(__file__).parents[2] / "conf/policy/shield64_sib.yaml")
    assert (cfg.sibling_window, cfg.sibling_stake) == (16, 1)  # what the docstring says
    return make_policy(OmegaConf.merge(cfg, {"costmodel": "seed_table1", "sibling_gate": gate,
                                             "name": f"shield64_sib_gate{gate}"}))


SIBLING_TRACE = _sibling_trace()
SIBLING_POLICIES = {"shield64_sib_gate4": lambda: _sibling(4),
                    "shield64_sib_gate0": lambda: _sibling(0)}


def _columns(rows: int, cols: int, name: str) -> Trace:
    """A ``rows`` x ``cols`` array of pages written column by column (stride ``cols``)."""
    pages = np.array([r * cols + c for c in range(cols) for r in range(rows)], dtype=np.int64)
    return Trace(pages, rows * cols, name=name)


def _stride_traces() -> dict[str, Trace]:
    """Strided windows (stride_window 1): a column sweep (stride 32), one whose pages are
    each in another PTE page (stride 520 > 512: a window's clean takes one PTE lock per
    page), and a stride-13 writer that starts over (generators.stride)."""
    from cowrl.traces import generators as g

    return {t.name: t for t in (_columns(32, 32, "s_columns"), _columns(6, 520, "s_wide"),
                                _named(g.stride(n_pages=1024, stride=13), "s_stride13"))}


STRIDE_NS = 1135
"""The strided page's reserve of the tests (tests/test_guarded_stride.py's seed_table1 price)."""


def _strided(table: str) -> Policy:
    """``table`` (shield64: 64 everywhere; guarded: the shipped one) with the shipped options
    and stride_window 1 at seed_table1's budget, a strided page reserving STRIDE_NS."""
    from dataclasses import replace

    from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options

    cells = [64] * N_CELLS if table == "shield64" else _guarded_policies()["guarded"]().table
    cost = replace(make_costmodel("seed_table1"), precopy_stride_ns=float(STRIDE_NS))
    return GuardedPolicy.for_cost(cost, table=cells, **{**shipped_options(), "stride_window": 1},
                                  name=f"stride_{table}")


STRIDE_TRACES = _stride_traces()
STRIDE_POLICIES = {"stride_shield64": lambda: _strided("shield64"),
                   "stride_guarded": lambda: _strided("guarded")}


def _lockstep_traces() -> dict[str, Trace]:
    """Arrays in separate mappings written in lockstep (sentinel_salt, ABI 19): two regions of
    64 pages, page p of each in turn (tests/test_guarded_sentinel_salt.py's pair), and three
    arrays of 200, 200 and 400 pages mapped top-down, each after a header page
    (generators.lockstep_arrays, layout mmap: regions at recorded addresses)."""
    from cowrl.traces import generators as g

    pair = Trace(np.array([p + 64 * r for p in range(64) for r in range(2)]), 128,
                 name="l_pair", region_sizes=np.array([64, 64]))
    arr = g.lockstep_arrays(pages=200, scales=(1, 1, 2), layout="mmap")
    return {"l_pair": pair,
            "l_mmap": Trace(arr.pages, arr.n_pages, name="l_mmap", region_sizes=arr.region_sizes,
                            region_starts=arr.region_starts)}


def _lockstep_policy(salt: int) -> Policy:
    """shield64 at seed_table1's budget, with sentinel_salt ``salt``."""
    from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options

    return GuardedPolicy.for_cost(make_costmodel("seed_table1"), table=[64] * N_CELLS,
                                  **{**shipped_options("shield64"), "sentinel_salt": salt},
                                  name=f"lockstep_salt{salt}")


LOCKSTEP_TRACES = _lockstep_traces()
LOCKSTEP_POLICIES = {"lockstep_salt0": lambda: _lockstep_policy(0),
                     "lockstep_salt1": lambda: _lockstep_policy(1)}


@pytest.fixture(scope="session", params=sorted(KERNEL_RELEASES))
def session(request: pytest.FixtureRequest) -> KernelSession:
    reqs = [RunRequest(TRACES[t], POLICIES[p](), label=p) for p in POLICIES for t in TRACES]
    reqs.append(RunRequest(TRACES["seq"], Baseline(), module=False, label="nomodule"))
    reqs.append(RunRequest(TRACES["stride3"], StaticPrecopy(4), writer="parent",
                           label="precopy4-parent"))
    reqs += [RunRequest(EQ_TRACES[t], EQ_POLICIES[p](), label=p) for p in EQ_POLICIES
             for t in EQ_TRACES]
    reqs.append(RunRequest(EQ_TRACES["eq_interleaved"], EQ_POLICIES["table_hand"](),
                           writer="parent", label="table_hand-parent"))
    reqs += [RunRequest(GUARDED_TRACES[t], GUARDED_POLICIES[p](), label=p)
             for p in GUARDED_POLICIES for t in GUARDED_TRACES]
    reqs += [RunRequest(REC_TRACE, GUARDED_POLICIES[p](), label=p) for p in REC_POLICIES]
    reqs += [RunRequest(FORK_TRACE, GUARDED_POLICIES[p](), label=p) for p in FORK_POLICIES]
    reqs += [RunRequest(FORK_SHARED, GUARDED_POLICIES[p](), label=p, shared=True)
             for p in SHARED_POLICIES]
    reqs.append(RunRequest(FORK_SHARED, _refusal_policy(), label=REFUSAL_POLICY, shared=True))
    reqs.append(RunRequest(GUARDED_TRACES["g_multi"], HugePage(), label="hugepage"))
    reqs.append(RunRequest(GUARDED_TRACES["g_pool"], _inert_guarded(), label="guarded_inert"))
    reqs += [RunRequest(NOVEL_TRACES[t], NOVEL_POLICIES[p](), label=p) for p in NOVEL_POLICIES
             for t in NOVEL_TRACES]
    reqs += [RunRequest(STRIDE_TRACES[t], STRIDE_POLICIES[p](), label=p) for p in STRIDE_POLICIES
             for t in STRIDE_TRACES]
    reqs += [RunRequest(SIBLING_TRACE, SIBLING_POLICIES[p](), label=p, shared=True)
             for p in SIBLING_POLICIES]
    reqs += [RunRequest(LOCKSTEP_TRACES[t], LOCKSTEP_POLICIES[p](), label=p)
             for p in LOCKSTEP_POLICIES for t in LOCKSTEP_TRACES]
    return run_session(reqs, {"accel": "auto", "kernel_release": KERNEL_RELEASES[request.param]},
                       checks=("manual_cow", "table_ioctl", PROOF_STRESS, "rmmod"),
                       progress=True)


PROOF_STRESS = "stress:proofstep,proofskip,proofdue"
"""The runs experiments/bench_kernel_proof.py prices a ring step with (``--what step`` /
``skip`` / ``jump`` / ``due`` / ``scan``), in the session's boot (icount 0 by default)."""
ICOUNT_SPREAD = 1.03
"""Icount runs of the same work repeat within ~3% (docs/kernel.md, "Guest clock under TCG")."""


def test_the_guest_footprint_is_within_what_the_memory_check_reserves(
        session: KernelSession) -> None:
    """check_guest_memory reserves GUEST_BASE_MIB + memory_mb / GUEST_PART for the guest
    itself; at every run's start the guest took less (memory_mb - MemAvailable)."""
    from cowrl.kernel.backend import GUEST_BASE_MIB, GUEST_PART

    avail = session.info["mem_available_kb"]
    assert len(avail) == len(session.records) and min(avail) > 0, avail
    memory_mb = 2048  # the default the session runs with
    assert memory_mb - min(avail) / 1024 < GUEST_BASE_MIB + memory_mb / GUEST_PART, avail


def test_the_per_cpu_free_lists_high_is_the_same_in_every_run(session: KernelSession) -> None:
    """6.12 auto-tunes the high of the per-CPU free lists, with guest time that 9p waits
    advance by host-timed amounts; the guest fixes it (kernel.pin_pcp_high), so every run
    starts with the same high and icount runs of the same work repeat (docs/kernel.md). 6.1
    is not touched: its high is not tuned, but follows the watermarks, which khugepaged
    raises while THP is on (1,882, 1,903 and 13,972 in this session)."""
    pin = session.info["pcp_high"]
    is_612 = session.info["kernel_release"].startswith("6.12")
    assert pin["pinned"] is is_612, pin
    highs = {r.extra["pcp_high_at_start"] for r in session.records}
    assert min(highs) > 0 and (len(highs) == 1 or not is_612), highs
    assert all(r.extra["pcp_count_at_start"] >= 0 for r in session.records)


def test_no_taint_beyond_the_module_and_dmesg_kept(session: KernelSession) -> None:
    """Loading sets taint 12288 (O, E); any other bit is a warning, an oops or worse."""
    assert session.info["taint"] & ~12288 == 0, session.info
    assert session.info["taint"] & 12288 == 12288  # the module really was loaded
    dmesg = open(session.info["dmesg_file"]).read()
    # 6.1: wp_page_copy; Debian 13's 6.12 inlines it, the module probes do_wp_page, and with
    # an fprobe: a kretprobe there crashed 6.12 guests at rmmod (docs/kernel.md).
    old = session.info["kernel_release"].startswith("6.1.")
    want, how = ("wp_page_copy", "kretprobe") if old else ("do_wp_page", "fprobe")
    assert f"cowrl: probing {want}, ABI {load_abi().version}" in dmesg
    assert re.search(rf"cowrl: probing {want}, .*, {how}, maxactive", dmesg), dmesg[-2000:]


def _index(session: KernelSession, trace: str, policy: str) -> int:
    for i, r in enumerate(session.records):
        if r.workload == trace and r.policy == policy:
            return i
    raise KeyError((trace, policy))


def _rec(session: KernelSession, trace: str, policy: str):  # noqa: ANN202
    return session.records[_index(session, trace, policy)]


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


def test_hugepage_splits_then_copies_4k(session: KernelSession) -> None:
    """Linux 6.1 and 6.12 split a shared anon THP on write and copy 4 KiB: counts = baseline."""
    for t in TRACES:
        huge, base = _rec(session, t, "hugepage"), _rec(session, t, "baseline")
        assert huge.extra["thp_backed"], "the region was not THP-backed before fork"
        assert "[madvise]" in huge.extra["thp_setting"]
        assert "[never]" in base.extra["thp_setting"] and not base.extra["thp_backed"]
        assert (huge.faults, huge.precopied) == (base.faults, base.precopied)


def test_hugepage_backs_only_whole_aligned_2mib_of_a_region(session: KernelSession) -> None:
    """Each region is its own VMA, and a THP must lie wholly in one: g_multi's regions at
    vpn 0..300, 300..511 and 511..1024 hold one huge page, 512..1024, where the simulator
    charges its one split (not at page // 512 = 0, a range that straddles the regions)."""
    from cowrl.sim import CostModel, simulate

    r = _rec(session, "g_multi", "hugepage")
    assert r.extra["thp_backed"] and r.extra["anon_huge_kb"] == 2048
    sim, ev = simulate(GUARDED_TRACES["g_multi"], HugePage(),
                       CostModel(fault_ns=1.0, copy_ns=1.0, precopy_ns=1.0), record_events=True)
    assert (sim.faults, sim.precopied) == (r.faults, r.precopied)
    split = ev.page[ev.thp_first.astype(bool)].tolist()
    assert len(split) == 1 and 512 <= split[0] < 1024


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
    assert r.extra["runner"] == "qemu" and r.extra["kernel_release"].startswith(
        ("6.1.", "6.12."))


@pytest.mark.parametrize("path", ["manual_cow_module", "manual_cow_madvise"])
def test_manual_cow(session: KernelSession, path: str) -> None:
    c = session.checks[path]
    assert "error" not in c, c
    assert c["pages"] == c["n"] and c["private_before"] == 0 and c["private_after"] == c["n"]
    assert c["data_ok"] and c["parent_data_ok"]
    assert c["err_overflow"] == errno.EINVAL and c["err_unmapped"] == errno.EFAULT
    if path == "manual_cow_module":
        assert c["err_flags"] == errno.EINVAL


@pytest.mark.parametrize("what", ["step", "skip", "jump", "due", "scan"])
def test_proof_ring_steps_are_priced_at_least_what_they_cost(session: KernelSession,
                                                             what: str) -> None:
    """``cowrl_stress proofstep`` / ``proofskip`` / ``proofdue`` (``bench_kernel_proof.py
    --what step`` / ``skip`` / ``jump`` / ``due`` / ``scan``): the module's faults, copies and
    proofs equal the prototype's in every run (the counts each price is identified from), and
    under icount every pair's price of an empty slot / a live entry stepped over unread / a
    ``proof_skipmap`` jump / a ``proof_duemap`` due jump / a refreshed waiting entry is at most
    ``tcg``'s ``proof_step_ns`` / ``proof_skip_ns`` / ``proof_jump_ns`` / ``proof_duejump_ns`` /
    ``proof_duescan_ns`` x :data:`ICOUNT_SPREAD` (the budget's bound needs each price at least
    what the step costs), and the dearest pair at least 0.9 of it (the price is not stale;
    ``bench_kernel_proof.ring_floor``: ``DUE_FLOOR``, ``SCAN_FLOOR`` and ``JUMP_FLOOR`` for
    the due jump, the refreshed entry and the jump; tests/test_bench_ring_price.py).

    A pair's time difference is the median over the passes of the session's series of its two
    runs' difference in the same pass (``bench_kernel_proof.pass_diffs``; proofstep and
    proofdue: a warm-up pass, then 5 timed passes; proofskip: 3). A jump is ~0.15% of a
    fault, and on 6.12 a single pass's pair moved by 10-40% (one per-CPU list refill more or
    less in a run, ~30,000 instruction-ns): the median of single figures that the session-26
    price 62.7 was the dearest of (6.12, 2 boots of 7 past 53.8 x 1.03). With the median the
    dearest jump pair of a boot was 40.3-43.3 on 6.12 and 40.3-43.4 on 6.1 in four boots each
    (docs/calibration.md, "The jump's pairs made sturdy"): 62.7 stays, an upper bound, and a
    module whose jump costs ~50% more fails the bound (tests/test_bench_ring_price.py). 6.1's
    passes are hit one run at a time by additive work (in 3 of 5 passes of a run once), so its
    floor takes each run's minimum (dearest 42.6-43.2): a price above 65.5 fails it."""
    from conftest import load_experiment

    bench = load_experiment("bench_kernel_proof")
    test, priced, pairs = bench.RING_PAIRS[what]
    r = session.checks[PROOF_STRESS][test]
    assert r["ok"] is True and r["rc"] == 0, r
    runs = r["runs"]
    counts = bench.series_counts(r)
    for x, c in zip(runs, counts, strict=True):
        assert (x["demand_faults"], x["precopy_copies"], x["proof_credited"],
                x["proof_lost"]) == (c["faults"], c["copies"], c["proven"], 0), (x, c)
    assert all(counts[j][priced] > counts[i][priced] for _, (i, j) in pairs), counts
    if session.info.get("icount", "off") in ("off", "auto"):
        return  # wall time: no instruction-ns to compare
    cm = make_costmodel("tcg")
    price = getattr(cm, bench.RING_STEPS[priced])
    per = [bench.ring_price(runs[i], runs[j], counts[i], counts[j], cm, priced)[0]
           for _, (i, j) in pairs]
    assert max(per) <= price * ICOUNT_SPREAD, (per, price)
    floor = bench.ring_floor(what, session.info["kernel_release"])
    if floor is not None:  # the jump on 6.1: each run's minimum (additive hits, one run)
        share, stat = floor
        low = [bench.ring_price(runs[i], runs[j], counts[i], counts[j], cm, priced, stat)[0]
               for _, (i, j) in pairs]
        assert bench.floor_holds(low, price, share), (low, per, price, share)


def test_rmmod_after_runs(session: KernelSession) -> None:
    c = session.checks["rmmod"]
    assert c == {"errno": 0, "unloaded": True, "dev_gone": True}


def _assert_module_equals_simulator(session: KernelSession, i: int, trace: Trace,
                                    policy: Policy, shared: bool = False) -> RunRecord:
    """Run ``i`` of the session made the simulator's decisions exactly: the same demand
    faults (page and k, in order), pages precopied per fault and totals (``shared``: a run
    with the copies at one address, ``RunRequest(shared=True)``, against the simulator's
    one-address layout), and counted them alike (the decision tallies, ABI 17; the refusals'
    reasons and the budget's flow, ABI 18). Returns its row."""
    from cowrl.sim import simulate
    from cowrl.sim.programs import budget_flow
    from cowrl.sim.simulator import trims

    r, kev = session.records[i], session.events[i]
    assert kev is not None and r.extra["mode"] == "table"
    sim, ev = simulate(trace, policy, make_costmodel("seed_table1"), record_events=True,
                       shared=shared)
    assert kev.page.size == ev.page.size == sim.faults
    mism = np.flatnonzero((kev.page != ev.page) | (kev.degree != ev.k))
    first = mism[:3]
    assert mism.size == 0, (f"{mism.size} mismatches, first at faults {first.tolist()}: "
                            f"kernel (page, k) {np.c_[kev.page[first], kev.degree[first]]} "
                            f"vs sim {np.c_[ev.page[first], ev.k[first]]}")
    assert kev.precopied.tolist() == ev.precopied.tolist()
    assert (r.faults, r.precopied, r.wasted) == (sim.faults, sim.precopied, sim.wasted)
    # the window pages the precopy walks stepped over, private (a GUARDED walk stops after
    # the last page its decision read shared; a TABLE one walks the whole window)
    assert r.extra["precopy_skipped"] == int(ev.skipped.sum()), (r.extra["precopy_skipped"],
                                                                 int(ev.skipped.sum()))
    assert r.extra["integrity_ok"] and r.extra["dropped"] == 0 and r.extra["nmissed"] == 0
    # ABI 17: why windows were or were not granted, counted by the module's decisions as by
    # the compiled program's (a TABLE or STATIC run's are 0; a Python-decided run has none);
    # ABI 18: why refused, and the budget's flow (the module's budgets left, summed, are what
    # was added less what was spent)
    tal = _tallies(r)
    if ev.tallies is not None:
        assert tal == ev.tallies, (tal, ev.tallies)
        assert tal["asked"] == (tal["floor"] + tal["refused"] + tal["windows"]
                                + tal["empty"]), tal
        assert tal["refused"] == (tal["refused_setup"] + tal["refused_protect"]
                                  + tal["refused_fit"]), tal
        added, spent = budget_flow(tal)
        assert tal["budget_ns"] == added - spent, tal
        assert tal["windows"] == int((kev.degree > 0).sum()), tal
    elif not trims(policy):
        assert not any(tal.values()), tal
    return r


def _tallies(r: RunRecord) -> dict[str, int]:
    """A kernel run's GUARDED decision tallies (its ``guard_*`` counters), by their simulator
    names (cowrl.sim.programs.guarded_tallies)."""
    from cowrl.sim.programs import GUARD_TALLY_KEYS

    return {k: r.extra[f"guard_{k}"] for k in GUARD_TALLY_KEYS}


@pytest.mark.parametrize("trace,policy", [(t, p) for p in EQ_POLICIES for t in EQ_TRACES]
                         + [("eq_interleaved", "table_hand-parent")])
def test_table_mode_decisions_equal_simulator(session: KernelSession, trace: str,
                                              policy: str) -> None:
    """Module decisions (cowrl_policy_fault in the kretprobe) == the Python policy's, exactly."""
    py_policy = EQ_POLICIES[policy.removesuffix("-parent")]()
    r = _assert_module_equals_simulator(session, _index(session, trace, policy),
                                        EQ_TRACES[trace], py_policy)
    # Decision timing is off by default (module parameter time_decisions): no ktime reads.
    assert r.extra["decisions"] == r.faults and r.extra["decide_avg_ns"] == 0


def test_table_mode_runs_are_not_trivial(session: KernelSession) -> None:
    """The tables really precopy and use several degrees (the equivalence is not vacuous)."""
    seq = session.events[_index(session, "eq_seq", "readahead")]
    assert seq is not None and seq.degree.max() == 64 and seq.precopied.sum() > 900
    hand = {int(k) for t in EQ_TRACES
            for k in session.events[_index(session, t, "table_hand")].degree}
    assert len(hand) >= 6, hand


def test_table_ioctl_errors(session: KernelSession) -> None:
    c = session.checks["table_ioctl"]
    assert "error" not in c, c
    assert c["abi_version"] == 20
    err = c["err"]
    assert err["good"] == err["good_again"] == err["off"] == 0
    for case in ("null_ptr", "unmapped_ptr", "kernel_ptr"):
        assert err[case] == errno.EFAULT, (case, c["errno_names"])
    for case in ("len0", "len2", "entry_short", "entry_long", "bad_version", "bad_decide",
                 "slots0", "slots17", "near0", "max_k0", "n_cells", "cell_k513", "bad_mode",
                 "guarded_entry"):
        assert err[case] == errno.EINVAL, (case, c["errno_names"])
    # proof_ttl (a pad slot of the guarded table): 0..255, and 0 without proof
    assert err["guarded_ttl_good"] == err["guarded_ttl_255"] == err["off_again"] == 0, err
    assert err["guarded_align_good"] == err["guarded_backoff_good"] == 0, err
    # walk_ns, walk_empty_ns: any u16 with proof, 0 without; the pad 0; a 744-byte payload
    # (before walk_empty_ns) is refused, never read as a 752-byte one
    assert err["guarded_walk_max"] == err["guarded_walk_empty_max"] == 0, err
    # proof_look (at 748): 0..1 with proof, 0 without
    assert err["guarded_look_good"] == 0, err
    # read_ns (the first pad, at 746): any u16 with proof and proof_ttl > 0, else 0
    assert err["guarded_read_max"] == 0, err
    # proof_span (at 750, the last pad): 0..1, and 1 only with proof_backoff
    assert err["guarded_span_good"] == 0, err
    # floor_slow (at 752 of the 760-byte payload, ABI 10): 0 or 5..12, its pad 0; a 752-byte
    # payload (before floor_slow) is refused, never read as a 760-byte one
    assert err["guarded_fslow_5"] == err["guarded_fslow_12"] == 0, err
    # proof_skipmap (at 754, the first pad after floor_slow, ABI 11): 0..1, 0 without proof
    assert err["guarded_skipmap_good"] == 0, err
    # proof_duemap (at 756, ABI 12): 0..1 with proof_backoff; its u8 prices (758, 759) any
    # with it, 0 without
    assert err["guarded_duemap_good"] == err["guarded_duemap_priced"] == 0, err
    # proof_cutback (the u8 at 751, ABI 13): 0..16, not 0 only with proof_span
    assert err["guarded_cutback_good"] == 0, err
    # stride_window (at 760 of the 768-byte payload, ABI 15): 0..1, its pad 0, stride_ns (764)
    # only with it and at most 2^20; a 760-byte payload (before it) is refused
    assert err["guarded_stride_good"] == 0, err
    for case in ("guarded_ttl_256", "guarded_ttl_no_proof", "guarded_walk_no_proof",
                 "guarded_walk_empty_no_proof", "guarded_span_no_backoff", "guarded_span_2",
                 "guarded_read_no_ttl", "guarded_read_no_proof", "guarded_744",
                 "guarded_align_3", "guarded_align_128", "guarded_backoff_2",
                 "guarded_backoff_no_proof", "guarded_look_2", "guarded_look_no_proof",
                 "guarded_fslow_4", "guarded_fslow_13", "guarded_fslow_max", "guarded_fslow_pad",
                 "guarded_752", "guarded_skipmap_2", "guarded_skipmap_no_proof",
                 "guarded_duemap_no_backoff", "guarded_duemap_2", "guarded_duemap_scan_off",
                 "guarded_cutback_17", "guarded_cutback_no_span", "guarded_stride_2",
                 "guarded_stride_pad", "guarded_stride_ns_off", "guarded_stride_ns_max",
                 "guarded_760", "guarded_sib_65", "guarded_sib_stake3", "guarded_sib_gate8",
                 "guarded_sib_gate_no_stake", "guarded_sib_stake_no_window",
                 "guarded_sib_no_proof", "guarded_sib_pad", "guarded_768", "guarded_salt_2"):
        assert err[case] == errno.EINVAL, (case, c["errno_names"])
    # sibling_window (u8s at 768..770 of the 776-byte payload, ABI 16): W <= 64 with proof,
    # stake 0..2 with W, gate 0..7 with a stake, the pad 0; an unreadable payload -EFAULT
    assert err["guarded_sib_good"] == 0, err
    # sentinel_salt (u8 at 771, ABI 19): 0..1
    assert err["guarded_salt_good"] == 0, err
    assert err["guarded_sib_unmapped"] == errno.EFAULT, err
    # its family bytes (one per page of a target's range, at most 2^22 pages): with the
    # sibling table set, REGISTER of a longer range -E2BIG, of the cap's length and of a short
    # one 0; with a longer target registered under policy off, SET_POLICY sibling -E2BIG
    assert (err["family_policy"], err["family_register_long"], err["family_register_cap"],
            err["family_register_short"], err["family_unregister"], err["family_off"],
            err["family_register_long_off"], err["family_policy_long"]) == (
        0, errno.E2BIG, 0, 0, 0, 0, 0, errno.E2BIG), c["errno_names"]


def _guarded_trace(name: str) -> Trace:
    return {REC_TRACE.name: REC_TRACE, FORK_TRACE.name: FORK_TRACE}.get(name) or \
        GUARDED_TRACES[name]


@pytest.mark.parametrize("trace,policy", [(t, p) for p in GUARDED_POLICIES
                                          for t in GUARDED_TRACES]
                         + [(REC_TRACE.name, p) for p in REC_POLICIES]
                         + [(FORK_TRACE.name, p) for p in FORK_POLICIES])
def test_guarded_mode_decisions_equal_simulator(session: KernelSession, trace: str,
                                                policy: str) -> None:
    """COWRL_POLICY_GUARDED (cowrl_guarded.h in the kretprobe, page state read with gup-fast)
    == the simulator's guarded program: demand faults, pages precopied and k per fault."""
    r = _assert_module_equals_simulator(session, _index(session, trace, policy),
                                        _guarded_trace(trace), GUARDED_POLICIES[policy]())
    assert r.extra["decisions"] == r.faults


@pytest.mark.parametrize("trace,policy", [(t, p) for p in STRIDE_POLICIES
                                          for t in STRIDE_TRACES])
def test_strided_windows_equal_simulator(session: KernelSession, trace: str,
                                         policy: str) -> None:
    """stride_window 1 (cowrl_guarded.h's strided windows, cowrl_precopy_window stepping by
    the stride, the clean grouping a window's copies by PMD): the module makes the prototype's
    decisions (simulate, fast=False) fault for fault, k and pages precopied per fault, the
    pages skipped; every copy is cleaned and the copies it finds written are the pages the
    simulator credits, the ring reads its reads. And the windows are strided: on the column
    sweeps the faults are far fewer than the writes, with no page wasted."""
    from cowrl.sim import simulate

    t = STRIDE_TRACES[trace]
    r = _assert_module_equals_simulator(session, _index(session, trace, policy), t,
                                        STRIDE_POLICIES[policy]())
    assert r.extra["decisions"] == r.faults
    proto = STRIDE_POLICIES[policy]()
    sim = simulate(t, proto, make_costmodel("seed_table1"), fast=False)
    assert (r.faults, r.precopied) == (sim.faults, sim.precopied)
    assert r.extra["proof_lost"] == 0 and r.extra["proof_clean"] == r.precopied, r.extra
    assert r.extra["proof_credited"] == proto.ctx.proven, (r.extra, proto.ctx.proven)
    assert (r.extra["proof_reads"], r.extra["proof_foreign"]) == (
        proto.ctx.proven + proto.ctx.unproven_reads, 0), r.extra
    if trace in ("s_columns", "s_wide"):
        assert r.precopied > 0 and r.wasted == 0
    if trace == "s_columns":
        assert r.precopied > t.writes // 4 and proto.ctx.proven > 100, (r.precopied,
                                                                      proto.ctx.proven)


@pytest.mark.parametrize("trace", sorted(LOCKSTEP_TRACES))
def test_salted_sentinels_equal_simulator(session: KernelSession, trace: str) -> None:
    """sentinel_salt (ABI 19): on arrays written in lockstep in separate mappings the module
    makes the simulator's decisions fault for fault with the salt and without, sentinels hit
    and missed included (its guard_hits / guard_misses equal the compiled program's); and the
    salt is what keeps the regions' sentinels apart: with it far fewer are missed."""
    t = LOCKSTEP_TRACES[trace]
    tal = {p: _tallies(_assert_module_equals_simulator(session, _index(session, trace, p), t,
                                                       LOCKSTEP_POLICIES[p]()))
           for p in LOCKSTEP_POLICIES}
    off, on = tal["lockstep_salt0"], tal["lockstep_salt1"]
    assert on["misses"] * 4 < off["misses"] and on["hits"] > off["hits"], (off, on)
    if trace == "l_pair":  # the hand count (tests/test_guarded_sentinel_salt.py): the budget
        # copies nothing on 128 faults, each sentinel at page + 1
        assert (off["hits"], off["misses"], on["hits"], on["misses"]) == (63, 63, 126, 0)


def test_inert_guarded_runs_static_and_equals_simulator(session: KernelSession) -> None:
    """guarded under tcg is inert: the module runs STATIC k = 0 (no GUARDED decision), with
    the simulator's counts; the simulator prices it as baseline."""
    from cowrl.sim import simulate

    pol = _inert_guarded()
    assert pol.inert
    trace = GUARDED_TRACES["g_pool"]
    i = _index(session, "g_pool", "guarded_inert")
    r, kev = session.records[i], session.events[i]
    assert r.extra["mode"] == "static" and "decisions" not in r.extra  # no GUARDED program
    cost = make_costmodel("tcg")
    sim, ev = simulate(trace, pol, cost, record_events=True)
    assert (r.faults, r.precopied, r.wasted) == (sim.faults, sim.precopied, sim.wasted)
    assert kev is not None and kev.page.tolist() == ev.page.tolist()
    assert not kev.degree.any() and r.faults == np.unique(trace.pages).size
    assert sim.fault_ns.sum() == simulate(trace, Baseline(), cost).fault_ns.sum()


PROOF_POLICIES = ("guarded_proof", "guarded_loose_proof", "guarded_proof_ttl",
                  "guarded_loose_proof_ttl", "guarded_proof_backoff",
                  "guarded_loose_proof_backoff", "guarded_align_loose_proof",
                  "guarded_align16_proof", "guarded_loose_proof_walk",
                  "guarded_loose_proof_read", "bandit_shielded", "guarded_loose_proof_look",
                  "guarded_loose_proof_span", "guarded_loose_proof_fslow", "guarded_proof_fslow",
                  "guarded_loose_proof_skipmap", "guarded_loose_proof_duemap",
                  "guarded_loose_proof_cutback")


@pytest.mark.parametrize("trace,policy", [(t, p) for p in PROOF_POLICIES
                                          for t in GUARDED_TRACES]
                         + [(REC_TRACE.name, p) for p in REC_POLICIES]
                         + [(FORK_TRACE.name, p) for p in FORK_POLICIES if p in PROOF_POLICIES])
def test_dirtyproof_credits_equal_simulator(session: KernelSession, trace: str,
                                            policy: str) -> None:
    """dirtyproof (icount, 1 vCPU, one writer): with proof = 1 every precopied copy is
    cleaned (none lost), and the copies the module finds written (dirty bit, same pfn)
    are exactly the pages the simulator credits, the ring entries it reads the simulator's
    reads (proven or not), none recorded by another process; the decisions, which the credits feed,
    equal the simulator's fault for fault (test_guarded_mode_decisions_equal_simulator)."""
    from cowrl.sim import simulate

    r = session.records[_index(session, trace, policy)]
    proto = GUARDED_POLICIES[policy]()
    simulate(_guarded_trace(trace), proto, make_costmodel("seed_table1"), fast=False)
    assert r.extra["proof_lost"] == 0, r.extra
    assert r.extra["proof_clean"] == r.precopied, r.extra
    assert r.extra["proof_credited"] == proto.ctx.proven, (r.extra["proof_credited"],
                                                           proto.ctx.proven)
    # every ring entry the looks read (the module's written() calls), none another process's
    assert (r.extra["proof_reads"], r.extra["proof_foreign"]) == (
        proto.ctx.proven + proto.ctx.unproven_reads, 0), r.extra


def test_forked_writers_are_one_process_each_in_the_simulators_order(
        session: KernelSession) -> None:
    """The forked trace ran one process per writer role: the module's demand records come
    from four processes, the k-th to fault being the writer the simulator ranks k
    (Trace.region_procs) at every fault; and the ordinal is not vacuous: with every child in
    one process (its regions 512 pages apart, the bucket key before the ordinal) the
    own-bucket look decides otherwise."""
    from dataclasses import replace

    from cowrl.sim import simulate

    t = FORK_TRACE
    for p in FORK_POLICIES:
        i = _index(session, t.name, p)
        kev, r = session.events[i], session.records[i]
        assert kev is not None and r.extra["integrity_ok"]
        pids, first = np.unique(kev.pid, return_index=True)
        rank = np.empty(pids.size, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(pids.size)  # by each pid's first fault
        ordinal = rank[np.searchsorted(pids, kev.pid)]
        region = np.searchsorted(t.region_ends, kev.page, side="right")
        assert np.unique(kev.pid).size == 4, p
        assert ordinal.tolist() == t.region_procs[region].tolist(), p
    starts = t.region_starts + np.arange(4, dtype=np.uint64) * np.uint64(512 * 4096)
    one = replace(t, region_writers=None, region_starts=starts)
    cost = make_costmodel("seed_table1")
    pol = GUARDED_POLICIES["guarded_loose_proof_look"]
    _, ev = simulate(t, pol(), cost, record_events=True)
    _, ev0 = simulate(one, pol(), cost, record_events=True)
    assert not np.array_equal(ev.k, ev0.k)


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_kernel"))


@pytest.fixture(scope="module")
def cguarded_any_proc(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The header built with COWRL_GUARDED_TEST_ANY_PROC: the look before the ring kept each
    entry's process."""
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_kernel_any"), any_proc=True)


@pytest.mark.parametrize("policy", SHARED_POLICIES)
def test_forked_copies_at_one_address_read_only_their_own_ring_entries(
        session: KernelSession, cguarded, cguarded_any_proc,  # noqa: ANN001
        policy: str) -> None:
    """The four children rewrite their copies of one buffer at the same pages of the range:
    the module's decisions (page and k per fault, each record's page told by its pid), ring
    entries read and proofs equal cowrl_guarded.h replayed in user space with the harness's
    slots (CGuarded.replay ``slots``: the pages the module sees, a page state per child), and
    no look read a sibling's entry (``proof_foreign`` 0), while the look before the process
    was kept (the header built with COWRL_GUARDED_TEST_ANY_PROC) reads siblings' entries on
    this layout, unproven, and decides otherwise."""
    from cowrl.kernel.jobs import harness_slots
    from cowrl.kernel.table import pack_guarded

    t = FORK_SHARED
    slots = harness_slots(t, shared=True)
    assert np.unique(slots).size == 1, slots  # the four copies at one slot range
    i = _index(session, t.name, policy)
    r, kev = session.records[i], session.events[i]
    assert kev is not None and r.extra["integrity_ok"] and r.extra["dropped"] == 0
    assert np.unique(kev.pid).size == 4
    payload = pack_guarded(GUARDED_POLICIES[policy]().program())
    page, k = cguarded.replay(payload, t.pages, t.n_pages, t.region_ends,
                              t.region_vpn_offsets, t.region_writers, slots=slots)
    assert kev.page.tolist() == page.tolist() and kev.degree.tolist() == k.tolist()
    x = r.extra
    assert (x["proof_reads"], x["proof_credited"], x["proof_foreign"], x["proof_lost"]) == (
        cguarded.last_proofs, cguarded.last_proven, 0, 0), x
    assert cguarded.last_proofs > 0 and cguarded.last_foreign == 0
    before = cguarded_any_proc
    _, k0 = before.replay(payload, t.pages, t.n_pages, t.region_ends, t.region_vpn_offsets,
                          t.region_writers, slots=slots)
    assert before.last_foreign > 0 and not np.array_equal(k0, k), before.last_foreign


@pytest.mark.parametrize("policy", SHARED_POLICIES)
def test_forked_copies_at_one_address_equal_the_simulators_one_address_layout(
        session: KernelSession, policy: str) -> None:
    """The four children's copies of one buffer at the same pages of the range (the runs of
    the test above): the module's demand faults (page and k per fault, each record's page
    told by its pid), pages precopied, the walks' skipped pages, and its proofs
    (``proof_credited``, the ring entries read) equal the simulator's in its one-address
    layout (``simulate(shared=True)``: the copies decided at one region's pages, a page
    state per child), prototype and compiled; and that layout is not the distinct one."""
    from cowrl.sim import simulate

    t, cost = FORK_SHARED, make_costmodel("seed_table1")
    r = _assert_module_equals_simulator(session, _index(session, t.name, policy), t,
                                        GUARDED_POLICIES[policy](), shared=True)
    proto = GUARDED_POLICIES[policy]()
    rec = simulate(t, proto, cost, fast=False, shared=True)
    assert (r.faults, r.precopied) == (rec.faults, rec.precopied)
    x = r.extra
    assert (x["proof_credited"], x["proof_reads"], x["proof_foreign"]) == (
        proto.ctx.proven, proto.ctx.proven + proto.ctx.unproven_reads, 0), x
    assert x["proof_clean"] == r.precopied and x["proof_lost"] == 0, x
    _, ev = simulate(t, GUARDED_POLICIES[policy](), cost, record_events=True)
    kev = session.events[_index(session, t.name, policy)]
    assert kev is not None and kev.degree.tolist() != ev.k.tolist()


@pytest.mark.parametrize("policy", list(SIBLING_POLICIES))
def test_sibling_window_equals_the_simulator_and_the_header(
        session: KernelSession, cguarded, policy: str) -> None:  # noqa: ANN001
    """sibling_window 16 + sibling_stake 1, gated (m = 4) and not, on a forked family at one
    address (the family bytes per page of the registered range, the gate's counters per
    target): the module's demand faults (page and k), pages precopied per fault, the walks'
    skipped pages and the totals equal the simulator's one-address layout (the compiled
    program); its decisions, ring reads, proofs and pages copied equal cowrl_guarded.h
    replayed in user space with the harness's slots and a family array; every copy, sibling
    pages included, is cleaned (the ring's sibling entries are proven as window pages are)."""
    from cowrl.kernel.jobs import harness_slots
    from cowrl.kernel.table import pack_guarded

    t = SIBLING_TRACE
    i = _index(session, t.name, policy)
    r = _assert_module_equals_simulator(session, i, t, SIBLING_POLICIES[policy](), shared=True)
    x, kev = r.extra, session.events[i]
    assert x["decisions"] == r.faults and np.unique(kev.pid).size == 4
    assert x["proof_clean"] == r.precopied and x["proof_lost"] == 0, x
    payload = pack_guarded(SIBLING_POLICIES[policy]().kernel_program())
    page, k = cguarded.replay(payload, t.pages, t.n_pages, t.region_ends,
                              t.region_vpn_offsets, t.region_writers,
                              slots=harness_slots(t, shared=True))
    assert kev.page.tolist() == page.tolist() and kev.degree.tolist() == k.tolist()
    assert (x["proof_reads"], x["proof_credited"], x["proof_foreign"]) == (
        cguarded.last_proofs, cguarded.last_proven, 0), x
    assert r.precopied == cguarded.last_copied and cguarded.last_sib > 0


def test_the_sibling_gate_opened_in_the_module(session: KernelSession, cguarded) -> None:  # noqa: ANN001
    """A demand record of degree 0 whose precopy made pages private can only be a sibling
    window's (the adjacent window of k = 0 copies nothing). Gated (m = 4) the window copies
    only while the gate is open, and the gate stays shut before 64 marks: the gated run has
    such faults, so the gate opened in the module; it decides otherwise than the ungated run,
    whose first such fault comes earlier (in the simulator 148 ungated, 174 gated; 30 and 21
    such faults): the gate held the window shut while its evidence grew. The header's replay
    ends with at least 64 marks, and as many hits as a rate above the gate's threshold needs
    (8 hits (gain + loss) >= marks (8 loss + 4 gain) is what opens it)."""
    from cowrl.kernel.jobs import harness_slots
    from cowrl.kernel.table import pack_guarded

    t = SIBLING_TRACE
    gated = session.events[_index(session, t.name, "shield64_sib_gate4")]
    ungated = session.events[_index(session, t.name, "shield64_sib_gate0")]
    sib4 = np.flatnonzero((gated.degree == 0) & (gated.precopied > 0))
    sib0 = np.flatnonzero((ungated.degree == 0) & (ungated.precopied > 0))
    assert sib4.size > 0 and sib0.size > 0, (sib4.size, sib0.size)
    assert sib4[0] > sib0[0], (sib4[:3], sib0[:3])
    assert gated.degree.tolist() != ungated.degree.tolist()
    pol = SIBLING_POLICIES["shield64_sib_gate4"]()
    cguarded.replay(pack_guarded(pol.kernel_program()), t.pages, t.n_pages, t.region_ends,
                    t.region_vpn_offsets, t.region_writers, slots=harness_slots(t, shared=True))
    marks, hits, _, _ = cguarded.last_gate
    assert marks >= 64 and hits <= marks, cguarded.last_gate
    # ABI 17: the module's own tallies say so (the simulator's and the header's, equal:
    # _assert_module_equals_simulator): the gate let sibling windows open and held others shut
    tal4 = _tallies(_rec(session, t.name, "shield64_sib_gate4"))
    tal0 = _tallies(_rec(session, t.name, "shield64_sib_gate0"))
    assert tal4["gate_open"] > 0 and tal4["gate_shut"] > 0 and tal4["sib_windows"] > 0, tal4
    assert tal4 == cguarded.last_tallies, (tal4, cguarded.last_tallies)
    assert tal0["gate_open"] == tal0["gate_shut"] == 0 and tal0["sib_windows"] > 0, tal0


def test_guarded_tallies_are_not_trivial(session: KernelSession) -> None:
    """The tallies the module's GUARDED runs report (equal to the simulator's in every run,
    _assert_module_equals_simulator) are not vacuous: on the forked family shield64's windows
    are granted, cut short, refused by the budget and held by the floor, the sentinels hit and
    missed; on the bottom-up rows 97 windows get the whole 64 pages asked (92 at a row's
    start; the simulator: 105 granted, 8 of them short, 150 refused) and 31 more, granted at a
    row's last page over rows written earlier, are dropped empty (ABI 20: no work queued; the
    same faults and copies as the simulator's, _assert_module_equals_simulator); the strided
    runs grant strided windows; the proof runs on the generated traces grant and refuse."""
    sib = _tallies(_rec(session, SIBLING_TRACE.name, "shield64_sib_gate4"))
    for key in ("asked", "floor", "refused", "windows", "short", "pages", "hits", "misses"):
        assert sib[key] > 0, (key, sib)
    rows = _tallies(_rec(session, "n_bottomup", "shield64"))
    assert rows["windows"] - rows["short"] == 97 and rows["refused"] > 0, rows
    assert rows["empty"] == 31 and rows["pages"] == 482, rows
    strided = sum(_tallies(_rec(session, t, p))["strided"] for t in STRIDE_TRACES
                  for p in STRIDE_POLICIES)
    assert strided > 0
    total: dict[str, int] = {}
    for t in GUARDED_TRACES:
        for k, v in _tallies(_rec(session, t, "guarded_loose_proof")).items():
            total[k] = total.get(k, 0) + v
    assert total["windows"] > 0 and total["refused"] > 0, total
    # ABI 18: the budget's flow on them: allowances, proofs' credits, windows, walks (the
    # dear-walk policies); and the sibling windows' stakes on the family
    flow: dict[str, int] = {}
    for r in session.records:
        if "guard_asked" in r.extra:  # (the no-module run has none)
            for k, v in _tallies(r).items():
                flow[k] = flow.get(k, 0) + v
    for key in ("add_allow_ns", "add_credit_ns", "spend_window_ns", "spend_walk_ns",
                "spend_sib_ns", "refused_fit"):
        assert flow[key] > 0, (key, flow)
    assert sib["spend_sib_ns"] > 0, sib


def test_windows_refused_for_each_reason_as_the_simulator(session: KernelSession,
                                                          cguarded) -> None:  # noqa: ANN001
    """ABI 18: on the forked copies at one address, REFUSAL_POLICY's windows are refused below
    setup_ns, by protect's cap and by no candidate fitting, each counted by the module as by
    the simulator (its one-address layout) and by the header replayed in user space."""
    from cowrl.kernel.jobs import harness_slots
    from cowrl.kernel.table import pack_guarded

    t = FORK_SHARED
    r = _assert_module_equals_simulator(session, _index(session, t.name, REFUSAL_POLICY), t,
                                        _refusal_policy(), shared=True)
    tal = _tallies(r)
    assert tal["refused_setup"] > 0 and tal["refused_protect"] > 0, tal
    assert tal["refused_fit"] > 0, tal
    cguarded.replay(pack_guarded(_refusal_policy().program()), t.pages, t.n_pages,
                    t.region_ends, t.region_vpn_offsets, t.region_writers,
                    slots=harness_slots(t, shared=True))
    assert cguarded.last_tallies == tal, (cguarded.last_tallies, tal)


def test_dirtyproof_is_not_trivial(session: KernelSession) -> None:
    """Proofs are credited in every proof run with copies, and change decisions somewhere."""
    credited = {t: session.records[_index(session, t, "guarded_loose_proof")]
                .extra["proof_credited"] for t in GUARDED_TRACES}
    assert sum(credited.values()) > 200 and min(credited.values()) > 0, credited
    for p in ("guarded", "guarded_loose"):  # no clean without proof = 1
        assert all(session.records[_index(session, t, p)].extra["proof_clean"] == 0
                   for t in GUARDED_TRACES)

    def otherwise(policy: str, than: str) -> list[str]:  # traces where they decided apart
        return [t for t in GUARDED_TRACES
                if session.events[_index(session, t, policy)].degree.tolist()
                != session.events[_index(session, t, than)].degree.tolist()]

    assert otherwise("guarded_loose_proof", "guarded_loose"), \
        "proof = 1 decided as proof = 0 on every trace"
    assert otherwise("guarded_loose_proof_ttl", "guarded_loose_proof"), \
        "proof_ttl = 2 decided as proof_ttl = 0 on every trace"
    assert otherwise("guarded_loose_proof_backoff", "guarded_loose_proof"), \
        "proof_backoff = 1 decided as proof_backoff = 0 on every trace"
    assert otherwise("guarded_loose_proof_walk", "guarded_loose_proof_backoff"), \
        "walk_ns = 4000 decided as walk_ns = 0 on every trace"
    assert otherwise("guarded_loose_proof_walk2", "guarded_loose_proof_walk"), \
        "walk_empty_ns = 150 decided as walk_empty_ns = walk_ns on every trace"
    look = otherwise("guarded_loose_proof_look", "guarded_loose_proof_walk2")
    assert look, "proof_look = 1 decided as proof_look = 0 on every trace"
    assert "g_multi" in look  # (several regions; on one region the two looks are one)
    assert otherwise("guarded_loose_proof_read", "guarded_loose_proof_walk2"), \
        "read_ns = 3000 decided as read_ns = 0 on every trace"
    assert otherwise("guarded_loose_proof_span", "guarded_loose_proof_look"), \
        "proof_span = 1 decided as proof_span = 0 on every trace"
    assert otherwise("guarded_loose_proof_skipmap", "guarded_loose_proof_span"), \
        "proof_skipmap = 1 decided as proof_skipmap = 0 on every trace"
    assert otherwise("guarded_loose_proof_duemap", "guarded_loose_proof_skipmap"), \
        "proof_duemap = 1 decided as proof_duemap = 0 on every trace"
    assert otherwise("guarded_loose_proof_cutback", "guarded_loose_proof_duemap"), \
        "proof_cutback = 3 decided as proof_cutback = 0 on every trace"


def test_floor_slow_is_not_trivial(session: KernelSession) -> None:
    """The floor_slow runs (whose module decisions equal the simulator's,
    test_guarded_mode_decisions_equal_simulator) decide otherwise than the same policies with
    floor_slow 0 would: the module's slow EWMA is exercised, the equality is not vacuous."""
    from cowrl.sim import simulate

    cost = make_costmodel("seed_table1")

    def otherwise(policy: str) -> list[str]:
        out = []
        for t in GUARDED_TRACES:
            off = GUARDED_POLICIES[policy]()
            assert off.ctx.slow_shift > 0
            off.ctx.slow_shift = 0  # the same policy without the slow floor
            _, ev = simulate(GUARDED_TRACES[t], off, cost, record_events=True)
            kev = session.events[_index(session, t, policy)]
            if kev.page.tolist() != ev.page.tolist() or kev.degree.tolist() != ev.k.tolist():
                out.append(t)
        return out

    assert "g_random" in otherwise("guarded_loose_fslow")
    assert len(otherwise("guarded_loose_proof_fslow")) >= 3
    # the candidate (shipped options + floor_slow 5) opens windows in the module
    assert session.records[_index(session, "g_seq", "guarded_proof_fslow")].precopied > 100


def test_guarded_mode_runs_are_not_trivial(session: KernelSession) -> None:
    """The guarded runs precopy, with several degrees (the equality is not vacuous)."""
    ks = {int(k) for p in GUARDED_POLICIES for t in GUARDED_TRACES
          for k in session.events[_index(session, t, p)].degree}
    assert len(ks) >= 4, ks
    assert session.records[_index(session, "g_seq", "guarded")].precopied > 500
    # align values open windows to the ends of aligned groups (degrees 1..15 at align16)
    al = {int(k) for t in GUARDED_TRACES
          for k in session.events[_index(session, t, "guarded_align16_proof")].degree}
    assert len(al - {0}) >= 3 and max(al) <= 15, al
    # the trained shielded bandit (its artifact, run as COWRL_POLICY_GUARDED) opens windows
    assert session.records[_index(session, "g_seq", "bandit_shielded")].precopied > 100


def test_align_windows_at_recorded_addresses_are_not_trivial(session: KernelSession) -> None:
    """The recorded-address runs open align windows whose degrees depend on the recorded
    virtual page numbers: at the harness's old layout (region r's page p at slot p + r of a
    2 MiB aligned range) the simulator would decide otherwise, so the equality of
    test_guarded_mode_decisions_equal_simulator[g_rec-*] (which the layout of
    cowrl.kernel.jobs.harness_slots gives) is the point, not a coincidence."""
    from cowrl.sim import simulate

    sizes = REC_TRACE.region_sizes
    old = Trace(REC_TRACE.pages, REC_TRACE.n_pages, name="g_rec_old", region_sizes=sizes,
                region_starts=((REC_TRACE.region_begins + np.arange(sizes.size)) * 4096)
                .astype(np.uint64))
    cost = make_costmodel("seed_table1")
    for p in ("guarded_align16_proof", "guarded_align_loose_proof"):
        r, kev = _rec(session, REC_TRACE.name, p), session.events[_index(session, "g_rec", p)]
        assert r.precopied > 20 and len(set(kev.degree.tolist()) - {0}) >= 3, (p, r.precopied)
        sim = simulate(old, GUARDED_POLICIES[p](), cost)
        assert (sim.faults, sim.precopied) != (r.faults, r.precopied), p


@pytest.mark.parametrize("trace,policy", [(t, p) for p in NOVEL_POLICIES for t in NOVEL_TRACES])
def test_unseen_shapes_decisions_and_credits_equal_simulator(session: KernelSession, trace: str,
                                                             policy: str) -> None:
    """On write shapes no generator makes (a wrapping ring buffer, a semispace flip), the
    shipped shield (shield64), the trained shielded bandit and readahead decide in the module
    as in the simulator, fault for fault, and the shielded ones' proofs credit the same pages."""
    from cowrl.sim import simulate

    t = NOVEL_TRACES[trace]
    _assert_module_equals_simulator(session, _index(session, trace, policy), t,
                                    NOVEL_POLICIES[policy]())
    proto = NOVEL_POLICIES[policy]()
    if policy != "readahead":
        simulate(t, proto, make_costmodel("seed_table1"), fast=False)
        r = _rec(session, trace, policy)
        assert r.extra["proof_lost"] == 0 and r.extra["proof_clean"] == r.precopied, r.extra
        assert r.extra["proof_credited"] == proto.ctx.proven


def test_unseen_shapes_are_not_trivial(session: KernelSession) -> None:
    """Windows open on both shapes; on the ring (shield64, readahead) one is cut by the
    region's end before the wrap and one walks into the pages the first lap made private (they
    count toward k, copying nothing); the semispace flip wastes pages under the shield, and
    its proofs credit copies."""
    ring = NOVEL_TRACES["n_ringwrap"]
    for p in NOVEL_POLICIES:
        assert _rec(session, "n_ringwrap", p).precopied > 500, p
        assert _rec(session, "n_semispace", p).precopied > 300, p
    for p in ("shield64", "readahead"):
        kev = session.events[_index(session, "n_ringwrap", p)]
        window = np.minimum(kev.degree, ring.n_pages - 1 - kev.page)
        assert (kev.degree > window).any(), p  # cut at the region end
        assert (kev.precopied < window).any(), p  # private pages in the window
    shield = _rec(session, "n_semispace", "shield64")
    assert shield.wasted > 0 and shield.extra["proof_credited"] > 0, shield.extra


def test_guarded_walks_stop_after_the_last_page_read_shared(session: KernelSession) -> None:
    """On bottom-up rows shield64 opens 64 pages at 97 faults (92 row starts; 31 more windows
    at a row's last page copy nothing and are dropped, ABI 20): the module's walk
    stops after the row (cowrl_guarded_obs.last), stepping over none of the rows written
    earlier, as the simulator's (its precopy_skipped equals the simulator's skipped in every
    run, _assert_module_equals_simulator). Elsewhere a GUARDED walk steps over the private
    pages before that last one, and a TABLE walk over every private page of its window."""

    def private_in_windows(trace: Trace, policy: str) -> tuple[int, int]:
        r, kev = _rec(session, trace.name, policy), session.events[_index(session, trace.name,
                                                                          policy)]
        end = trace.region_ends[np.searchsorted(trace.region_ends, kev.page, side="right")]
        window = np.minimum(kev.degree, end - 1 - kev.page).sum()
        return r.extra["precopy_skipped"], int(window) - r.precopied

    kev = session.events[_index(session, "n_bottomup", "shield64")]
    assert (kev.degree == 64).sum() == 97, kev.degree
    skipped, private = private_in_windows(NOVEL_TRACES["n_bottomup"], "shield64")
    assert skipped == 0 and private > 5000, (skipped, private)
    skipped, private = private_in_windows(GUARDED_TRACES["g_pool"], "guarded_loose")
    assert 0 < skipped < private, (skipped, private)
    skipped, private = private_in_windows(EQ_TRACES["eq_phased"], "table_hand")
    assert 0 < skipped == private, (skipped, private)
