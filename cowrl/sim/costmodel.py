"""The page-fault cost model: what a COW fault costs, in nanoseconds.

Parameters live in ``conf/costmodel/*.yaml``; each file says where its numbers
came from (``provenance``). A demand fault with degree ``k`` that precopies
``n`` pages and walks ``s`` window pages that were already private costs::

    fault_ns + copy_ns + d * decide_ns + [k > 0] * precopy_setup_ns + n * precopy_ns
        + s * precopy_skip_ns   (+ the THP model's extra on a huge page's first fault)

This formula is written once, in :func:`fault_ns` (compiled); the replay engine
calls it per fault and :meth:`CostModel.fault_cost` over arrays.

``d`` is 1 when the policy decided ``k`` at run time, at this fault: in the
kernel, a pushed table (module TABLE mode runs ``cowrl_policy_fault()`` in the
kretprobe return path under the target's lock); in the simulator, a policy with
``static_k is None``; in the envs, every step (an agent decision) unless the
env is built with ``decided=False``. Static policies (module STATIC mode) never
pay it. ``decide_ns`` defaults to 0. A decision program that costs more than a TABLE
lookup (GUARDED mode also reads page-table entries) has its own coefficient in
``decide_program_ns`` (:meth:`CostModel.decide_cost`), which takes ``decide_ns``'s place
in the same formula for the policies that run it (``Policy.decide_program``). Likewise a
policy whose module run cleans each copy's dirty bit (guarded ``proof: 1``) pays
``precopy_ns + proof_clean_ns`` per precopied page (:meth:`CostModel.with_clean`, chosen by
``Policy.priced``).

``[k > 0]`` is 1 when the fault queued precopy work: the kernel module does so
for every demand fault with ``k > 0``, even when the window is empty (region
end) or already private. Both precopy terms and ``decide_ns`` default to 0 (the older, purely
per-page model). A write that takes no fault costs ``write_ns``. Noise, when enabled, scales
each fault's cost by an independent lognormal factor with median 1, drawn from
a seeded generator; with ``noise.kind: none`` costs are exact expected values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numba import njit

from cowrl.errors import ConfigError

HUGE_PAGES = 512  # 4 KiB pages per 2 MiB THP

TERMS: tuple[tuple[str, str], ...] = (
    ("decide_ns", "decided"), ("precopy_setup_ns", "work"), ("precopy_ns", "precopied"),
    ("precopy_skip_ns", "skipped"), ("thp_split_ns", "thp_first"))
"""The fault-cost formula's terms after ``fault_ns + copy_ns``, in the order :func:`fault_ns`
adds them: (coefficient, the fault's count that multiplies it). The THP term's coefficient
is the THP model's first-fault extra (``thp_split_ns`` under ``SplitThenCopy``)."""

PARAM_FIELDS = ("fault_ns", "copy_ns", "precopy_ns", "thp_split_ns", "write_ns",
                "precopy_setup_ns", "precopy_skip_ns", "decide_ns")
"""The numeric parameters of :class:`CostModel` (all ns, all >= 0)."""


class THPModel:
    """How a write fault to a shared anonymous THP behaves (replaceable part)."""

    name = "thp"

    def first_fault_extra_ns(self, cost: CostModel) -> float:
        """Extra cost of the first demand fault inside one 2 MiB huge page."""
        raise NotImplementedError

    def first_fault_private_pages(self) -> int:
        """Pages of the huge page made private by that first fault, besides the faulting one."""
        return 0


class SplitThenCopy(THPModel):
    """Linux >= 5.8 (commit 3917c80280c9): split the PMD, then COW 4 KiB as usual."""

    name = "split_then_copy"

    def first_fault_extra_ns(self, cost: CostModel) -> float:
        return cost.thp_split_ns


class CopyWholeHuge(THPModel):
    """Pre-5.8 behaviour: the first write copies the whole 2 MiB huge page.

    The other pages of the huge page become private in that fault and are
    counted and priced as precopied pages (``precopy_ns`` each, no trap), so a
    partial huge page at the region end costs only the pages it has. They are
    not window pages: a precopy window that then walks them finds them private
    (``precopy_skip_ns`` each).
    """

    name = "copy_whole_huge"

    def first_fault_extra_ns(self, cost: CostModel) -> float:
        return 0.0

    def first_fault_private_pages(self) -> int:
        return HUGE_PAGES - 1


@dataclass
class NoiseModel:
    """Per-fault multiplicative noise: ``none`` or ``lognormal`` (median 1, shape ``sigma``)."""

    kind: str = "none"
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("none", "lognormal"):
            raise ConfigError(
                f"costmodel.noise.kind must be 'none' or 'lognormal', got {self.kind!r}")
        if self.sigma < 0:
            raise ConfigError(f"costmodel.noise.sigma must be >= 0, got {self.sigma}")

    def factors(self, rng: np.random.Generator | None, n: int) -> np.ndarray | None:
        if self.kind == "none" or self.sigma == 0 or n == 0:
            return None
        if rng is None:
            raise ConfigError("costmodel.noise is on but no seed was given")
        return rng.lognormal(mean=0.0, sigma=self.sigma, size=n)


@njit(cache=True, nogil=True)
def fault_ns(base_ns: float, decide_ns: float, setup_ns: float, precopy_ns: float,
             skip_ns: float, thp_ns: float, decided: int, work: int, precopied: int,
             skipped: int, thp_first: int) -> float:
    """The cost of one demand fault (noise off); the first six arguments are
    :meth:`CostModel.coefficients` (scalars: the compiled loops keep them in registers).

    Terms are added left to right in this order; every caller goes through here, so
    every replay path prices a fault bit for bit alike. With ``decide_ns = 0`` the
    ``decided`` term adds an exact 0.0.
    """
    return (base_ns + decided * decide_ns + work * setup_ns + precopied * precopy_ns
            + skipped * skip_ns + thp_first * thp_ns)


@njit(cache=True, nogil=True)
def _fault_ns_many(coef: np.ndarray, decided: np.ndarray, work: np.ndarray,
                   precopied: np.ndarray, skipped: np.ndarray, thp_first: np.ndarray
                   ) -> np.ndarray:
    out = np.empty(precopied.shape[0], dtype=np.float64)
    for i in range(out.shape[0]):
        out[i] = fault_ns(coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], decided[i],
                          work[i], precopied[i], skipped[i], thp_first[i])
    return out


def _ns(v: Any, name: str) -> float:
    """A cost in ns: a finite number >= 0 (not a bool), else a one-line error naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or not np.isfinite(v):
        raise ConfigError(f"{name} must be a finite number >= 0, got {v!r}")
    return float(v)


@dataclass
class CostModel:
    """Parametric COW cost model (all values in ns)."""

    fault_ns: float
    copy_ns: float
    precopy_ns: float
    thp_split_ns: float = 0.0
    write_ns: float = 0.0
    precopy_setup_ns: float = 0.0
    """Fixed cost of a demand fault that queues precopy work (``k > 0``): task_work,
    ``mmap_read_lock``, VMA lookup. Charged even when the window turns out empty."""
    precopy_skip_ns: float = 0.0
    """Cost of a window page that is walked but already private (checked, not copied)."""
    decide_ns: float = 0.0
    """Cost of deciding ``k`` at run time at a demand fault (the module's TABLE mode:
    context update and table lookup under a lock). Charged once per demand fault of a
    policy that decides (``static_k is None``); static policies never pay it."""
    decide_program_ns: dict[str, float] = field(default_factory=dict)
    """``decide_ns`` of the policies whose module decision is another program than a TABLE
    lookup, by program name (``Policy.decide_program``: ``guarded``); a program not named
    here costs ``decide_ns``."""
    proof_clean_ns: float = 0.0
    """What a copied page costs on top of ``precopy_ns`` when the module cleans its dirty bit
    for an interior proof (guarded version 4, ``proof: 1``: the walk, PTE lock, clear, TLB
    generation, local flush, and the later ``written()`` read). Charged only to policies that
    run with proofs (:meth:`Policy.priced`, :meth:`with_clean`); 0 = not priced."""
    proof_read_ns: float = 0.0
    """What one proof read that finds the page not (yet) written costs the module (a
    ``written()`` call: the lockless PTE read and its checks). The engine charges it per such
    read, as it happens, to every run that reads proofs (``engine.replay``); the read that
    proves a page is not charged (it is in ``proof_clean_ns``). With ``proof_ttl = t`` an
    entry is read unwritten at most ``t`` times before it leaves the ring, so the budget
    reserves ``t * proof_read_ns`` per copied page (:meth:`with_clean` with ``t``)."""
    proof_step_ns: float = 0.0
    """What the proof look's step over an empty ring slot costs the module. Charged by the
    engine per such step, as it happens, to every run that reads proofs (the look walks only
    while the ring holds a live entry); per fault, not per copy, so not in a copy's reserve:
    the budget pays it step by step instead (``GuardedPolicy``'s ``walk_ns``, docs/policies.md
    "The walk and the re-measured read, charged")."""
    proof_skip_ns: float = 0.0
    """What the proof look's step over a live ring entry it does not read costs the module
    (an entry not yet due under ``proof_backoff``, or another region's). Charged as
    ``proof_step_ns``; a read's own step is in ``proof_read_ns`` / ``proof_clean_ns``."""
    proof_jump_ns: float = 0.0
    """What the proof look's jump from an empty ring slot to the next live one costs the
    module (``proof_skipmap``: a find-next-set-bit over the 128-bit map of live slots, in
    place of stepping over each empty slot at ``proof_step_ns``). The engine charges it once
    per jump, as it charges ``proof_step_ns`` once per empty slot."""
    proof_duejump_ns: float = 0.0
    """What the proof look's jump to the next live slot not waiting costs the module
    (``proof_duemap``: a bit scan of the live map less the map of entries not yet due, from
    an empty slot or an entry not yet due). The engine charges it once per such jump."""
    proof_duescan_ns: float = 0.0
    """What a ``proof_duemap`` refresh costs the module per waiting entry it looks at (is
    it due yet?). The engine charges it per entry looked at."""
    precopy_stride_ns: float = 0.0
    """What one page of a *strided* precopy window costs on top of ``precopy_ns`` /
    ``precopy_skip_ns`` (its own page-table walk: the pages page+s, page+2s, ... lie in
    other PTE tables' slots or tables; guarded's ``stride_window``, in the module since ABI 15,
    session 28). Measured in the module in session 29 (docs/calibration.md, "The strided
    page's price": ``tcg`` 730.0, the dearest stride's; ``seed_table1`` / ``host`` scaled).
    Charged by the engine per strided page walked; 0 = not priced, and no adjacent window
    ever pays it."""
    name: str = "costmodel"
    noise: NoiseModel = field(default_factory=NoiseModel)
    thp_model: THPModel = field(default_factory=SplitThenCopy)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.noise, dict):
            self.noise = NoiseModel(**self.noise)
        for f in PARAM_FIELDS:
            setattr(self, f, _ns(getattr(self, f), f"costmodel.{f}"))
        self.proof_clean_ns = _ns(self.proof_clean_ns, "costmodel.proof_clean_ns")
        self.proof_read_ns = _ns(self.proof_read_ns, "costmodel.proof_read_ns")
        self.proof_step_ns = _ns(self.proof_step_ns, "costmodel.proof_step_ns")
        self.proof_skip_ns = _ns(self.proof_skip_ns, "costmodel.proof_skip_ns")
        self.proof_jump_ns = _ns(self.proof_jump_ns, "costmodel.proof_jump_ns")
        self.proof_duejump_ns = _ns(self.proof_duejump_ns, "costmodel.proof_duejump_ns")
        self.proof_duescan_ns = _ns(self.proof_duescan_ns, "costmodel.proof_duescan_ns")
        self.precopy_stride_ns = _ns(self.precopy_stride_ns, "costmodel.precopy_stride_ns")
        programs = self.decide_program_ns or {}
        if not isinstance(programs, Mapping):
            raise ConfigError(f"costmodel.decide_program_ns: expected ns by program name "
                              f"({{guarded: 60.0}}), got {programs!r}")
        self.decide_program_ns = {
            str(prog): _ns(v, f"costmodel.decide_program_ns.{prog}")
            for prog, v in programs.items()}
        if not isinstance(self.thp_model, THPModel):
            raise ConfigError(f"costmodel.thp_model: expected a THP model config (_target_: "
                              f"cowrl.sim.costmodel.SplitThenCopy), got {self.thp_model!r}")

    @property
    def page_cost_ns(self) -> float:
        """Cost of one page copy; the unit of the waste penalty in the objective."""
        return self.copy_ns

    @property
    def demand_ns(self) -> float:
        """Expected cost of one demand fault with no precopy."""
        return self.fault_ns + self.copy_ns

    def with_clean(self, proof_ttl: int = 0) -> CostModel:
        """This model as a policy with interior proofs pays it: every copied page costs
        ``precopy_ns + proof_clean_ns`` (the clean, then 0 in the result), and the engine
        charges ``proof_read_ns`` per unproven read as it happens (``engine.replay``: what
        ``simulate`` prices, ``Policy.priced``). ``proof_ttl = t > 0`` gives the budget's
        worst case instead (``GuardedPolicy.for_cost``): each copy also reserves the ``t``
        unproven reads its ring entry may cause, and ``proof_read_ns`` is 0 in the result
        (the reads counted once). The one place the clean enters the fault formula."""
        ttl = int(proof_ttl)
        extra = self.proof_clean_ns + ttl * self.proof_read_ns
        if not extra:
            return self
        return replace(self, precopy_ns=self.precopy_ns + extra, proof_clean_ns=0.0,
                       proof_read_ns=0.0 if ttl else self.proof_read_ns)

    def page_prices(self, lam: float, program: str | None = None) -> tuple[float, float]:
        """What one precopied page is worth against ``k = 0``: (gain if it is written later,
        loss if it never is). A written copy saves its demand fault less the precopy (and,
        with ``program``, the run-time decision that fault would have paid,
        :meth:`decide_cost`); an unwritten one costs its precopy plus ``lam`` times its
        memory (:attr:`page_cost_ns`). The one place these prices are written: the oracle's
        look-ahead, the risk budget and the safe ceiling read them."""
        decide = self.decide_cost(program) if program is not None else 0.0
        return (self.fault_ns + self.copy_ns + decide - self.precopy_ns,
                self.precopy_ns + lam * self.page_cost_ns)

    def decide_cost(self, program: str = "table") -> float:
        """What one run-time decision of ``program`` costs: ``decide_program_ns[program]``
        if the model prices that program apart, else ``decide_ns``."""
        return self.decide_program_ns.get(program, self.decide_ns)

    def coefficients(self, program: str = "table") -> np.ndarray:
        """The fault-cost coefficients :func:`fault_ns` reads: ``[fault_ns + copy_ns,
        decide_cost(program), precopy_setup_ns, precopy_ns, precopy_skip_ns, THP first-fault
        extra]``, then ``proof_read_ns``, ``proof_step_ns``, ``proof_skip_ns``,
        ``proof_jump_ns``, ``proof_duejump_ns``, ``proof_duescan_ns`` (the engine's replay adds
        them per unproven proof read, empty ring slot and live entry stepped over unread, jump
        to a live slot, jump to a due slot and waiting entry refreshed of a fault), then
        ``precopy_stride_ns`` (per page of a strided window walked)."""
        return np.array([self.fault_ns + self.copy_ns, self.decide_cost(program),
                         self.precopy_setup_ns,
                         self.precopy_ns, self.precopy_skip_ns,
                         float(self.thp_model.first_fault_extra_ns(self)),
                         self.proof_read_ns, self.proof_step_ns, self.proof_skip_ns,
                         self.proof_jump_ns, self.proof_duejump_ns, self.proof_duescan_ns,
                         self.precopy_stride_ns],
                        dtype=np.float64)

    def fault_cost(self, precopied: np.ndarray | int, thp_first: np.ndarray | int = 0,
                   work: np.ndarray | int = 0, skipped: np.ndarray | int = 0,
                   decided: np.ndarray | int = 0, program: str = "table") -> Any:
        """Expected latency of demand faults (:func:`fault_ns`, elementwise).

        ``precopied``: pages the fault made private besides the faulting one
        (window pages copied, plus a ``CopyWholeHuge`` huge page's other pages);
        ``thp_first``: first fault in its huge page; ``work``: the fault queued
        precopy work (``k > 0``); ``skipped``: window pages walked but already
        private; ``decided``: the policy decided ``k`` at run time at this fault
        (``decide_cost(program)``; 0 for static policies). Scalars give a float, arrays an
        array.
        """
        args = np.broadcast_arrays(*(np.asarray(a, dtype=np.int64)
                                     for a in (decided, work, precopied, skipped, thp_first)))
        shape = args[0].shape
        out = _fault_ns_many(self.coefficients(program), *(np.ascontiguousarray(a).reshape(-1)
                                                    for a in args))
        return float(out[0]) if shape == () else out.reshape(shape)
