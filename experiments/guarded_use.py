"""What ``guarded``'s ``use`` dimension measures on a trace: cells, sentinels and proofs.

    python experiments/guarded_use.py [--traces data/traces/cpython_prefork.npz ...] \
        [--costmodel seed_table1] [--options '{"use_proof": 1}'] [--align 4] \
        [--tables T.json ...] [--holdout app:cpython] [--only-tables] [--save-table T.json] \
        [--ring shared|per_region|own_left]

Replays each trace (the recorded corpus by default: cpython_prefork and its gc.freeze
variant) under the shipped ``guarded`` (conf/policy/guarded.yaml, its options plus
``--options``) and under a table of ``ALIGN | --align`` in every cell (only the budget
decides), and under each table of ``--tables`` (a JSON list of 320 values, as
``experiments/generalization_study.py --save-tables`` writes it); prints per run: objective /
baseline; the share of faults per cell (top 8)
and per use bucket of each class; the class's ``use`` (fixed point 256) at every tenth of
the run; sentinel hits and misses per class, split by whether the sentinel's window copied
pages (``k > 0``) or was a probe (``k = 0``); and the fate of every copied page in the proof
ring: proven, expired (``proof_ttl`` unproven reads), overwritten (the ring wrapped) or still
in the ring at the end, with the pages later written (from the trace: used) among each
(:func:`late_writes` says when: experiments/guarded_ttl.py ``--fates``).
With ``--holdout app:NAME`` it also learns the table ``experiments/guarded_lofo.py`` learns
for that held-out application (48 randomized training draws of seed 0 plus the recorded
corpus without the application, 2 passes, the options above), replays the traces under it,
and prints, for the 4 cells the first trace visits most under it, the summed hindsight
reward (``arm_rewards``, per trace divided by its baseline, in % of a trace) of a few arms
per training source (family or recording) and on the trace itself: what the learned value
of each cell rests on (``--save-table PATH`` writes that table).

**The proof look's walk** (every run): ring slots stepped over unread per fault (empty,
another region's, not yet due), reads, looks cut because the budget held less than the
price of the next slot, what the engine charged for the walk (share of baseline), the
budget's credits (allowances, proofs) and debits (windows, the walk), the faults whose table
value asked for a window and got none, and the same per region (the regions with most
faults). ``--only-tables``
replays only ``--tables`` / ``--holdout``'s tables (``experiments/generalization.py`` writes
each job's learned table into its job.json, ``tables``). ``--ring`` replaces the shipped
proof ring (one per state, shared by its regions) by a prototype, simulator only:
``per_region`` (:class:`RingPerRegion`, a ring of :data:`PROOFS` entries per region) or
``own_left`` (one ring, but a look ends once it saw the live entries of the faulting
region's bucket: guarded's ``proof_look: 1``, built since 2026-12-03; ``shared`` is
``proof_look: 0``); ``experiments/guarded_ttl.py --ring`` measures them on the development
draws (docs/policies.md, "Where held-out numpy's walk goes", "Own-bucket proof looks").
Diagnosis only: nothing here is chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError, parse_json, read_json  # noqa: E402
from cowrl.generalization import (  # noqa: E402
    app_name,
    app_traces,
    corpus_train_files,
    train_traces,
)
from cowrl.metrics import objective  # noqa: E402
from cowrl.policies.base import FaultContext  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    ALIGN,
    N_CELLS,
    SENTINELS,
    STREAM,
    Cell,
    GuardedContext,
    GuardedPolicy,
    arm_rewards,
    describe_cell,
    describe_value,
    learn_table,
    shipped_options,
)
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

CLS = ("stream", "other")
# The look's counters of GuardedContext, by the name the walk report gives them.
WALK_FIELDS = {"steps": "proof_steps", "empty": "proof_empty", "other": "proof_other",
               "not_due": "proof_skips", "cuts": "proof_cuts", "unproven": "unproven_reads",
               "proven": "proven", "jumps": "proof_jumps", "duejumps": "proof_duejumps",
               "scans": "proof_scans"}
CORPUS = Path(__file__).resolve().parent.parent / "data" / "traces"
ARMS = (1, 4, 8, 64, ALIGN | 4, ALIGN | 8)


RING_FIELDS = ("proof_page", "proof_head", "proof_cursor", "proof_live", "proof_miss",
               "proof_due", "proof_cls", "proof_bucket", "proof_proc", "bucket_live")
"""The proof ring's state in :class:`GuardedContext` (what a ring per region keeps apart)."""


class RingPerRegion(GuardedPolicy):
    """Prototype (simulator only; docs/policies.md, "Where held-out numpy's walk goes"): a
    proof ring of :data:`PROOFS` entries per region instead of one per state, so a look
    never steps over another region's entries. The fault clock of ``proof_backoff``
    (``n_faults``) stays the state's. Decisions otherwise as :class:`GuardedPolicy`."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.rings: dict[int, dict[str, Any]] = {}
        self.ring_region = -1

    def replay_program(self) -> None:
        return None  # the compiled program has one ring: the Python path at every fault

    def select_ring(self, region: int) -> None:
        """Make ``region``'s ring (region = its first page) the context's."""
        if region == self.ring_region:
            return
        g = self.ctx
        self.rings[self.ring_region] = {f: getattr(g, f) for f in RING_FIELDS}
        n = len(g.proof_page)  # PROOFS (guarded_ttl.py --ring-size changes it)
        ring = self.rings.get(region) or {
            "proof_page": [0] * n, "proof_head": 0, "proof_cursor": 0, "proof_live": 0,
            "proof_miss": [0] * n, "proof_due": [0] * n, "proof_cls": [0] * n,
            "proof_bucket": [0] * n, "proof_proc": [0] * n,
            "bucket_live": [0] * len(g.bucket_live)}
        for f, v in ring.items():
            setattr(g, f, v)
        self.ring_region = region

    def fault_cell(self, ctx: FaultContext) -> Cell:
        self.select_ring(ctx.region_start)  # the look and this fault's copies: its region's
        return super().fault_cell(ctx)


RINGS: dict[str, tuple[type[GuardedPolicy], int]] = {
    "shared": (GuardedPolicy, 0), "per_region": (RingPerRegion, 0),
    "own_left": (GuardedPolicy, 1)}
"""``--ring``: the shared ring with the look of ``proof_look`` 0 (all live entries) and 1
(``own_left``: the live entries of the region's bucket, GuardedPolicy), and the ring per
region prototype; each with its ``proof_look`` (whatever the options say)."""


def ring_class(ring: str | None, base: type[GuardedPolicy] = GuardedPolicy
               ) -> type[GuardedPolicy]:
    """``base`` with the proof ring ``ring`` (a key of :data:`RINGS`) and its look; ``None``:
    ``base`` (the options' look)."""
    if ring is None:
        return base
    if ring not in RINGS:
        raise ValueError(f"--ring: one of {', '.join(RINGS)}, got {ring!r}")
    ring_cls, look = RINGS[ring]

    def __init__(self: GuardedPolicy, *a: Any, **kw: Any) -> None:
        if kw.get("proof"):
            kw["proof_look"] = look
        base.__init__(self, *a, **kw)

    bases = (base,) if ring_cls is GuardedPolicy else (ring_cls, base)
    return type(f"{base.__name__}_{ring}", bases, {"__init__": __init__})


class Probe(GuardedPolicy):
    """The shipped decisions, with counters (the decisions are not changed)."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.cells: list[int] = []
        self.use_log: list[tuple[int, int]] = []
        self.sent: Counter[tuple[str, str, str]] = Counter()  # (class, probe|window, hit|miss)
        n = len(self.ctx.proof_page)  # PROOFS (guarded_ttl.py --ring-size changes it)
        self.owner = [-1] * n  # class of the window that copied the ring entry
        # when it was copied: (fault number, write index, copies so far, this one included)
        self.born = [(-1, -1, 0)] * n
        self.fate: Counter[tuple[str, str]] = Counter()  # (class, fate) -> pages
        self.fate_pages: dict[tuple[str, str], list[int]] = {}
        # (class, fate) -> (page, copy fault, copy write index, copies so far, fault it left)
        self.fate_recs: dict[tuple[str, str], list[tuple[int, int, int, int, int]]] = {}
        self.fault_wi: list[int] = []  # write index of each demand fault
        self.fault_copies: list[int] = []  # copies (ring entries) made up to each fault
        self.copies = 0
        # The proof look's walk per region (keyed by the region's first page): faults and
        # the ring slots its looks stepped over (WALK_FIELDS), and the budget's debits.
        self.walk_by_region: dict[int, Counter[str]] = {}
        self.window_debit = 0  # ns the windows took from the budget (reserve and fixed part)
        self.decisions: Counter[tuple[int, int, int]] = Counter()  # (cell, want, k) -> faults

    def _fate(self, i: int, what: str, page: int) -> None:
        """Ring entry ``i`` (of ``page``) leaves the ring at this fault: ``what``."""
        key = (CLS[self.owner[i]], what)
        self.fate[key] += 1
        self.fate_pages.setdefault(key, []).append(page)
        self.fate_recs.setdefault(key, []).append((page, *self.born[i], len(self.cells) - 1))

    def fault_cell(self, ctx: FaultContext) -> Cell:
        g = self.ctx
        before = list(g.proof_page)
        t = (ctx.page - ctx.region_start) & (SENTINELS - 1)
        tag, pages = g.tags[t], g.tag_pages[t]
        walked = [getattr(g, f) for f in WALK_FIELDS.values()]
        c = super().fault_cell(ctx)
        reg = self.walk_by_region.setdefault(ctx.region_start, Counter())
        reg["faults"] += 1
        for (name, f), w in zip(WALK_FIELDS.items(), walked, strict=True):
            reg[name] += getattr(g, f) - w
        self.fault_wi.append(ctx.write_index)
        for i in range(len(before)):
            if before[i] and not g.proof_page[i]:
                self._fate(i, "proven" if ctx.page_state is not None
                           and ctx.page_state[before[i] - 1] == 2 else "expired",
                           before[i] - 1)
        if g.hit:
            self.sent[(CLS[tag & 1], "window" if pages else "probe", "hit")] += 1
        self.cells.append(c.cell)
        self.use_log.append((g.use[0], g.use[1]))
        return c

    def last_look_at(self, h: int, ctx: FaultContext, start: int, limit: int) -> None:
        """``last_look``: an entry its last look proves leaves as proven (not overwritten)."""
        page, proven = self.ctx.proof_page[h], self.ctx.last_proven
        super().last_look_at(h, ctx, start, limit)
        if self.ctx.last_proven > proven:
            self._fate(h, "proven", page - 1)
            self.last_proved.add(h)

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        g = self.ctx
        before = list(g.proof_page)
        self.last_proved: set[int] = set()  # slots whose entry a last look proved (last_look)
        tags = list(g.tags)
        tag_pages = list(g.tag_pages)
        misses = list(g.misses)
        budget = self.budget
        k = super().act(c, ctx, want)
        self.window_debit += budget - self.budget
        if k:
            self.walk_by_region[ctx.region_start]["windows"] += 1
        self.decisions[(c.cell, self.table[c.cell] if want is None else want, k)] += 1
        for i in range(len(before)):
            if g.proof_page[i] != before[i]:
                if before[i] and i not in self.last_proved:
                    self._fate(i, "overwritten", before[i] - 1)
                self.owner[i] = c.cls
                self.copies += 1
                self.born[i] = (len(self.cells) - 1, ctx.write_index, self.copies)
        self.fault_copies.append(self.copies)
        changed = [t for t in range(SENTINELS)
                   if (g.tags[t], g.tag_pages[t]) != (tags[t], tag_pages[t])]
        for cls in (0, 1):  # an evicted sentinel (the slot this fault's sentinel took)
            for _ in range(g.misses[cls] - misses[cls]):
                kind = "window" if changed and tag_pages[changed[0]] else "probe"
                self.sent[(CLS[cls], kind, "miss")] += 1
        return k

    def finish(self) -> None:
        for i in range(len(self.ctx.proof_page)):
            if self.ctx.proof_page[i]:
                self._fate(i, "in ring", self.ctx.proof_page[i] - 1)


def report(t: Trace, name: str, pol: Probe, cost: Any, base: float) -> None:
    pol.trace_log = []  # the Python decisions at every fault (no compiled replay)
    rec = simulate(t, pol, cost)
    pol.finish()
    r = objective(rec, 1.0, cost.page_cost_ns) / base
    n = len(pol.cells)
    print(f"\n== {t.name}, {name}: {r:.4f} x baseline, {n} faults, {rec.precopied} copied, "
          f"{rec.wasted} wasted, budget granted {pol.granted} ns")
    cnt = Counter(pol.cells)
    print("  cells: " + ", ".join(f"{describe_cell(c)} {v / n:.0%}"
                                  for c, v in cnt.most_common(8)))
    for cls in (0, 1):
        ub = Counter(min(u[cls] >> 6, 3) for u, c in zip(pol.use_log, pol.cells, strict=True)
                     if (c // 80 in (1, 2)) == (cls == STREAM))
        tot = sum(ub.values()) or 1
        print(f"  {CLS[cls]} faults by use bucket: "
              + " ".join(f"use{b} {ub[b] / tot:.0%}" for b in range(4)) + f" (of {tot})")
    idx = [int(i * (n - 1) / 10) for i in range(11)] if n else []
    print("  use[stream], use[other] at tenths: "
          + " ".join(f"{pol.use_log[i][0]}/{pol.use_log[i][1]}" for i in idx))
    print("  sentinels (class, window|probe): " + ", ".join(
        f"{c}/{w} {pol.sent[(c, w, 'hit')]} hit {pol.sent[(c, w, 'miss')]} miss"
        for c in CLS for w in ("window", "probe")))
    last = np.full(t.n_pages, -1, dtype=np.int64)
    last[t.pages] = np.arange(t.writes)
    written = last >= 0
    walk_report(t, pol, rec.precopied, cost, base)
    print("  copied pages by fate (class: fate pages [later written]): " + ", ".join(
        f"{c}: {f} {pol.fate[(c, f)]} [{int(written[pol.fate_pages[(c, f)]].sum())}]"
        for c in CLS for f in ("proven", "expired", "overwritten", "in ring")
        if pol.fate[(c, f)]))


LATE_RINGS = (256, 512, 1024)
"""Ring sizes :func:`late_writes` asks about: would such a ring still hold a late copy."""


def late_writes(t: Trace, pol: Probe) -> dict[str, np.ndarray]:
    """When the copies that were not proven (expired, overwritten, or still in the ring at the
    end) were next written, after :meth:`Probe.finish`. Per such copy (all classes): ``fate``
    (0 expired, 1 overwritten, 2 in ring), ``written`` (the trace writes the page after the
    write it was copied at), ``in_time`` (expired or overwritten, but that write came before
    the entry left the ring: the look did not read it in time), ``faults`` (demand faults from
    the copy to that write, -1 if never written) and ``copies`` (ring entries made after it by
    then: a ring of more entries than that would still have held it, whatever
    ``proof_ttl``)."""
    fates = ("expired", "overwritten", "in ring")
    recs = [(f, *r) for f, what in enumerate(fates) for c in CLS
            for r in pol.fate_recs.get((c, what), [])]
    a = np.array(recs, dtype=np.int64).reshape(-1, 6)
    fate, page, cf, cwi, cseq, left = a.T
    w = np.int64(t.writes)
    keys = np.sort(np.asarray(t.pages, dtype=np.int64) * w + np.arange(t.writes))
    j = np.searchsorted(keys, page * w + cwi, side="right")  # its next write, if any
    nxt = keys[np.minimum(j, keys.size - 1)]
    written = (j < keys.size) & (nxt // w == page)
    wi = np.where(written, nxt % w, -1)
    fwi = np.asarray(pol.fault_wi, dtype=np.int64)
    fcp = np.asarray(pol.fault_copies, dtype=np.int64)
    nf = np.searchsorted(fwi, wi, side="left")  # demand faults before that write
    faults = np.where(written, nf - 1 - cf, -1)
    copies = np.where(written, fcp[np.maximum(nf - 1, 0)] - cseq, -1)
    in_time = written & (fate < 2) & (wi < fwi[np.minimum(left, fwi.size - 1)])
    return {"fate": fate, "written": written, "in_time": in_time, "faults": faults,
            "copies": copies}


def walk_summary(pol: Probe) -> dict[str, int]:
    """The walk counters summed over regions, and the budget's debits and credits (ns):
    ``walk_debit`` (every slot stepped over unread pays its price: ``walk_empty_ns`` an empty
    one, ``walk_ns`` a live one; with ``proof_skipmap`` each jump over empty slots
    ``walk_empty_ns``; with ``proof_duemap`` each jump over entries not yet due ``walk_due_ns``
    and each waiting entry a refresh looks at ``walk_scan_ns``), ``window_debit``,
    ``granted`` (allowances), ``proof_credit`` (each proof returns loss + gain, and with
    ``read_credit`` ``read_ns`` per reserved read its copy did not use)."""
    tot: Counter[str] = Counter()
    for reg in pol.walk_by_region.values():
        tot.update(reg)
    over = tot["empty"] + tot["other"] + tot["not_due"]
    wanted = sum(n for (_, w, _), n in pol.decisions.items() if w)
    return {**{f: tot[f] for f in ("faults", *WALK_FIELDS)}, "over": over,
            "walk_debit": (tot["empty"] + tot["jumps"]) * pol.walk_empty
            + (over - tot["empty"]) * pol.walk
            + tot["duejumps"] * pol.walk_due + tot["scans"] * pol.walk_scan,
            "window_debit": pol.window_debit,
            "granted": pol.granted, "proof_credit": tot["proven"] * (pol.loss + pol.gain)
            + pol.ctx.unused_reads * pol.read_ns,
            "wanted": wanted,
            "starved": sum(n for (_, w, k), n in pol.decisions.items() if w and not k),
            "cut_short": sum(n for (_, w, k), n in pol.decisions.items()
                             if w and 0 < k and k != w and not w > MAX_DEGREE)}


MAX_DEGREE = 64  # a table value above it is an align value (its degree depends on the page)


def walk_report(t: Trace, pol: Probe, copied: int, cost: Any, base: float, top: int = 6
                ) -> None:
    """Where the proof look's walk goes: per fault, the ring slots stepped over unread
    (empty, another region's, not yet due), the looks cut (budget < the next slot's price),
    the budget's debits and credits, the faults whose table value asked for a window and got
    none (``starved``), what the engine charged for the walk (``proof_step_ns`` per empty
    slot, ``proof_skip_ns`` per live entry stepped over) as a share of the baseline ``base``,
    and per region (the ``top`` by faults) the same slots per fault."""
    w = walk_summary(pol)
    n = max(w["faults"], 1)
    charged = w["empty"] * cost.proof_step_ns + (w["other"] + w["not_due"]) * cost.proof_skip_ns
    print(f"  walk (walk_ns {pol.walk}, walk_empty_ns {pol.walk_empty}, charged "
          f"{charged / base:.2%} of baseline): "
          f"{w['steps'] / n:.2f} slots/fault, over unread "
          f"{w['over'] / n:.2f} (empty {w['empty'] / n:.2f}, other region "
          f"{w['other'] / n:.2f}, not due {w['not_due'] / n:.2f}), reads "
          f"{(w['steps'] - w['over']) / n:.2f}, cuts {w['cuts']} ({w['cuts'] / n:.1%} of faults)"
          f", unproven reads {w['unproven']}, proven {w['proven']}, copied {copied}")
    print(f"  budget (ns): granted {w['granted']:,}, proofs {w['proof_credit']:,}, windows "
          f"-{w['window_debit']:,}, walk -{w['walk_debit']:,} "
          f"({w['walk_debit'] / max(w['granted'], 1):.2f} x the allowances); faults asking "
          f"for a window {w['wanted']}, got none {w['starved']}, a smaller one "
          f"{w['cut_short']}")
    ends = t.region_ends
    regs = sorted(pol.walk_by_region.items(), key=lambda kv: -kv[1]["faults"])
    print(f"  {len(regs)} of {ends.size} regions fault, "
          f"{sum(1 for _, c in regs if c['windows'])} open windows; per region (top {top} by "
          "faults): "
          + "; ".join(
              f"r{int(np.searchsorted(ends, s, side='right'))} {c['faults']} faults, over "
              f"{(c['empty'] + c['other'] + c['not_due']) / c['faults']:.1f}/fault (other "
              f"{c['other'] / c['faults']:.1f}, empty {c['empty'] / c['faults']:.1f}), "
              f"cuts {c['cuts']}, windows {c['windows']}, proven {c['proven']}"
              for s, c in regs[:top]))


def arm_sums(traces: list[Trace], probe: Trace, table: list[int], kw: dict[str, Any],
             cost: Any) -> None:
    """Per training source and on ``probe``: the summed hindsight reward of :data:`ARMS` in
    the 4 cells ``probe`` visits most under ``table``."""
    acc: dict[tuple[int, str], np.ndarray] = {}
    n: Counter[tuple[int, str]] = Counter()
    top: list[int] = []
    for t in [probe, *traces]:
        pol = GuardedPolicy.for_cost(cost, table=table, **kw)
        pol.trace_log = []
        simulate(t, pol, cost)
        log = pol.trace_log
        if not log:
            continue
        if not top:
            top = [c for c, _ in Counter(e[1] for e in log).most_common(4)]
        r = arm_rewards(t, pol.priced(cost), 1.0, log, ARMS) / (
            cost.demand_ns * np.unique(t.pages).size)
        src = f"{t.name} (this trace)" if t is probe else str(t.meta.get("family", t.name))
        for e, ev in enumerate(log):
            if ev[1] in top:
                key = (ev[1], src)
                acc[key] = acc.get(key, 0.0) + r[e]
                n[key] += 1
    names = [str(a) if a <= 64 else f"align{a - ALIGN}" for a in ARMS]
    for c in top:
        print(f"  cell {describe_cell(c)} (table: {describe_value(table[c])}), summed "
              "reward in % of a trace:")
        for (cc, src), v in sorted(acc.items(), key=lambda kv: kv[0][1]):
            if cc == c:
                print(f"    {src:<28} faults {n[(cc, src)]:>6} " + " ".join(
                    f"{a}:{100 * x:+.2f}" for a, x in zip(names, v, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", nargs="+", default=["data/traces/cpython_prefork.npz",
                                                   "data/traces/cpython_prefork_freeze.npz"])
    ap.add_argument("--costmodel", default="seed_table1")
    ap.add_argument("--options", default="{}", help="JSON: options over the shipped ones")
    ap.add_argument("--align", type=int, default=4, help="G of the all-align table")
    ap.add_argument("--tables", type=Path, nargs="*", default=[])
    ap.add_argument("--ring", default=None, choices=list(RINGS),
                    help="the proof ring and look (default: as the options say): shared "
                         "(proof_look 0), own_left (proof_look 1) or per_region (the "
                         "RingPerRegion prototype); the fates of copied pages assume one ring")
    ap.add_argument("--only-tables", action="store_true",
                    help="replay only the tables of --tables / --holdout (not the shipped one "
                         "nor the all-align one)")
    ap.add_argument("--holdout", default=None,
                    help="app:NAME: also the table learned without that application")
    ap.add_argument("--save-table", type=Path, default=None,
                    help="with --holdout: write the learned table there (a JSON list)")
    args = ap.parse_args()
    cost = make_costmodel(args.costmodel)
    shipped = make_policy("guarded")
    assert isinstance(shipped, GuardedPolicy)
    kw = {**shipped_options(), **parse_json(args.options, "--options")}
    tables = {"shipped table": list(shipped.table), f"align{args.align} everywhere":
              [ALIGN | args.align] * N_CELLS}
    if args.only_tables:
        tables = {}
    for p in args.tables:
        tables[p.name] = [int(v) for v in read_json(p, "--tables")]
    train: list[Trace] = []
    apps = app_traces(CORPUS)
    if args.holdout and app_name(args.holdout) not in apps:  # else nothing is held out
        raise ConfigError(f"--holdout: {args.holdout!r} is not app:NAME of a recorded application "
                          f"({', '.join(f'app:{a}' for a in sorted(apps))})")
    if args.holdout:
        train = train_traces([], 0, 48)
        train += [load_trace(f) for f in corpus_train_files(args.holdout, CORPUS)]
        tables[f"learned without {args.holdout}"] = list(
            learn_table(train, [cost], seed=0, passes=2, **kw)["table"])
        if args.save_table:
            args.save_table.write_text(json.dumps(tables[f"learned without {args.holdout}"]))
    for path in args.traces:
        t = load_trace(path)
        base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
        for tname, table in tables.items():
            pol = ring_class(args.ring, Probe).for_cost(cost, table=table, **kw)
            assert isinstance(pol, Probe) and isinstance(pol.ctx, GuardedContext)
            report(t, f"{tname}, {args.costmodel}, ring {args.ring}, "
                      f"{json.dumps(kw, sort_keys=True)}", pol,
                   cost, base)
    if args.holdout:
        print(f"\n== what the table learned without {args.holdout} rests on")
        arm_sums(train, load_trace(args.traces[0]), tables[f"learned without {args.holdout}"],
                 kw, cost)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
