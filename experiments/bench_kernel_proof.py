"""Cost of interior proofs in the module (the dirty-bit clean, its pfn, the proof reads).

    python experiments/bench_kernel_proof.py                 # 6.1 and 6.12
    python experiments/bench_kernel_proof.py --releases 6.1
    python experiments/bench_kernel_proof.py --what read      # one unproven proof read
    python experiments/bench_kernel_proof.py --what step      # one empty ring slot stepped over
    python experiments/bench_kernel_proof.py --what skip      # one live entry stepped over unread
    python experiments/bench_kernel_proof.py --what jump      # one proof_skipmap jump
    python experiments/bench_kernel_proof.py --what due       # one proof_duemap jump
    python experiments/bench_kernel_proof.py --what scan      # one waiting entry refreshed

One boot per kernel under TCG with the deterministic clock (``icount 0``: 1 ns = one guest
instruction, 1 vCPU) runs ``cowrl_stress proofcost``: a sequential write of every page of
a 4096-page region after fork, under a guarded table that wants degree k at every fault and
always affords it, so ``proof = 0`` and ``proof = 1`` copy the same pages; k = 8 and 64,
interleaved, median of 3. Prints per k the write loop's time per write for both, the
difference per precopied page (the clean: walk, PTE lock, checks, clear, tlb_gen, local
invlpg; storing its pfn; and the later faults' written() reads) and the proof counters.

``--what read`` runs ``cowrl_stress proofread`` instead: a write to every 9th page of a
9,216-page region after fork under a table that wants k = 8 at every fault and always
affords it, with ``proof = 1``: every copied page stays unwritten, so every proof read finds
nothing. ``proof_reads`` 1 and 16 copy and clean the same pages; the difference of the
write loop's time over the difference in reads (the fault after i faults reads
``min(8 i, proof_reads)`` entries) is the price of one unproven read: the cost model's
``proof_read_ns``. A third run with ``proof_ttl = 1`` checks that entries leave the ring
after one read (the module reads each once: fewer reads than with ``proof_ttl = 0``). Two
more runs price one ring step of ``proof_backoff`` (docs/policies.md, "Backoff of proof
reads"): k = 1 writing every 2nd page (one unwritten copy per fault), 16 reads with
``proof_ttl = 0`` against ``proof_ttl = 16`` with ``proof_backoff = 1``, whose looks step
over entries not yet due (at most 4 x 16 slots); the prototype (``GuardedPolicy``) counts
both runs' reads and the ring steps that read nothing (over an empty slot or an entry not yet
due) on the same writes, and a step's price is the time left after the reads' price (a read's
own step is in it, as the engine charges them), over the extra steps that read nothing.

``--what step`` runs ``cowrl_stress proofstep``: a write to every page of a 4096-page region
after fork under a table that wants k = 1 at every fault (``proof = 1``, every price 0), so
each fault copies the next page, the loop writes it without a fault, and the next fault's look
proves it and drops it from the ring, leaving a hole. Two pairs of runs, each over the same
faults and copies: ``proof_ttl = 0`` with ``proof_reads`` 1 (the cursor moves past each read:
no hole walked) against 16 (the look ends with fewer reads, having seen every live entry, and
the cursor goes back to where it started: the fault after i faults steps over (i - 1) mod 128
holes); and the flags guarded ships (8 reads, ``proof_ttl`` 16, ``proof_backoff``,
``proof_look``, ``proof_span``) writing every page against leaving the copy of every page = 1
mod 256 unwritten (it stays, the span's oldest entry, and looks walk the holes the proven
copies after it leave), and against 1 mod 64 (a check: more such entries, more reads and live
steps priced away). The prototype counts each run's empty slots, reads (proving or not)
and steps over live entries on the same writes; a pair's price of one empty slot is the loop's
time difference, less its difference in reads at ``proof_read_ns`` and in live steps at
``proof_skip_ns`` (``conf/costmodel/tcg.yaml``), over its difference in empty slots: the cost
model's ``proof_step_ns``.

``--what jump`` runs the same ``cowrl_stress proofstep``: its last five runs are the first five
again with ``proof_skipmap = 1`` (a look jumps from an empty slot to the next live one, a bit
scan of the live-slot map, instead of stepping over the holes), and the same three pairs of
them price one jump the same way, less also the live steps and the empty slots still walked,
over the pair's difference in jumps: the cost model's ``proof_jump_ns``.

``--what due`` runs ``cowrl_stress proofdue``: the flags guarded ships with ``proof_skipmap``
and ``proof_duemap = 1`` (a look jumps over the empty slots and the entries not yet due to the
next live slot that does not wait, and refreshes its map of waiting entries once the soonest
is due); runs 0-2 write every page and leave the copy of every page = 1 mod 16 and 1 mod 4
unwritten, and the pairs (0, 1) and (0, 2) price one due jump the same way, less also the
waiting entries refreshed at ``proof_duescan_ns``: the cost model's ``proof_duejump_ns``.
``--what scan`` prices one waiting entry refreshed from its runs 3 and 4 (every 2nd page
written, ``proof_reads`` 4 and 8: about 18 waiting entries refreshed per due jump), less the
due jumps at ``proof_duejump_ns``: the cost model's ``proof_duescan_ns``.

``--what skip`` runs ``cowrl_stress proofskip``: a write to every 2nd page of a 4096-page
region after fork, k = 1 at every fault (``proof = 1``, every price 0), so each fault copies
the next page, never written: the ring holds only unwritten entries of the region, read at
2^m faults (``proof_backoff``, ``proof_ttl`` 16), and a look steps over those not yet due.
Pairs of runs over the same faults and copies: the flags guarded ships (``proof_ttl`` 16,
``proof_backoff``, ``proof_look``, ``proof_span``) with ``proof_reads`` 8 (as shipped)
against 16 (a look walks up to 4 x ``proof_reads`` slots: about twice the live steps, few
more reads), 4 against 16 (a check), and ``proof_backoff`` alone (the flags ``--what read``
prices the step with) 8 against 16. A pair's price of one live entry stepped over unread is
the loop's time difference, less its difference in reads at ``proof_read_ns`` and in empty
slots at ``proof_step_ns``, over its difference in live steps: the cost model's
``proof_skip_ns`` (another region's entry is charged the same).

proofstep's and proofdue's runs go once untimed (a warm-up), then in 5 timed passes
(proofskip's: 3, no warm-up; ``--scale N`` multiplies the passes, at most 30), interleaved; a
pair's time difference is the median over passes of its two runs' difference in the same pass
(``pass_diffs``), and each pass's own price is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cowrl.cli import KERNEL_RELEASES, kernel_releases  # noqa: E402
from cowrl.kernel.backend import run_session  # noqa: E402


def stress(rel: str, test: str, scale: int = 1) -> tuple[Any, dict[str, Any]]:
    """One boot of ``rel`` under icount 0 running ``cowrl_stress test --scale scale``:
    (session, result)."""
    spec = f"stress:{test}" + (f"@{scale}" if scale > 1 else "")
    s = run_session([], {"kernel_release": KERNEL_RELEASES[rel], "icount": "0",
                         "run_timeout_s": 600.0}, checks=(spec,), progress=True)
    r = s.checks[spec][test]
    if not r.get("ok"):
        print(f"== Linux {rel}: {test} failed: {r.get('why')}")
    return s, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="6.1,6.12")
    ap.add_argument("--what", choices=("clean", "read", "step", "skip", "jump", "due", "scan"),
                    default="clean",
                    help="clean: the per-copy cost (proofcost); read: one unproven read; "
                    "step: one empty ring slot stepped over (proofstep); skip: one live "
                    "entry stepped over unread (proofskip); jump: one proof_skipmap jump to "
                    "the next live slot (proofstep); due: one proof_duemap jump to the next "
                    "slot not waiting (proofdue); scan: one waiting entry a proof_duemap "
                    "refresh looks at (proofdue)")
    ap.add_argument("--scale", type=int, default=1,
                    help="step, skip, jump, due, scan: cowrl_stress --scale (multiplies the "
                    "timed passes of each run, 5 or 3, at most 30; the kernel test runs 1)")
    args = ap.parse_args()
    releases = kernel_releases(args.releases)
    if args.what == "read":
        return bench_read(releases)
    if args.what in RING_PAIRS:
        return bench_ring(releases, args.what, args.scale)
    for rel in releases:
        s, r = stress(rel, "proofcost")
        if not r.get("ok"):
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


def reads_done(faults: int, reads: int, k: int = 8, ring: int = 128, ttl: int = 0) -> int:
    """Proof reads of the proofread run: the fault after i faults finds min(k i, ring) live
    entries of the region, all unwritten, and reads min(that, reads) of them (with
    proof_ttl = 1 each entry is read once: the k entries of each window, but the last's)."""
    if ttl == 1:
        return k * (faults - 1)
    return sum(min(k * i, ring, reads) for i in range(faults))


def prototype_run(written: Any, pages: int, k: int, reads: int, ttl: int, backoff: int,
                  look: int = 0, span: int = 0, skipmap: int = 0, duemap: int = 0
                  ) -> dict[str, int]:
    """A stress run in the prototype (``GuardedPolicy``): the pages ``written`` in order, a
    table of k's that always affords its window (every price 0), ``proof = 1``. Its demand
    faults, copies and the ring's counts: proven, unproven reads, empty slots stepped over,
    live entries stepped over unread (not yet due, or another region's), jumps to the next
    live slot (``proof_skipmap``), jumps to the next slot not waiting and waiting entries
    refreshed (``proof_duemap``)."""
    import numpy as np

    from cowrl.policies.guarded import N_CELLS, GuardedPolicy
    from cowrl.registry import make_costmodel
    from cowrl.sim.simulator import simulate
    from cowrl.traces.io import Trace

    t = Trace(pages=np.asarray(written), n_pages=pages, name="proofstress")
    pol = GuardedPolicy(table=[k] * N_CELLS, degrees=[k], gain_ns=0, loss_ns=0, setup_ns=0,
                        demand_ns=0, skip_ns=0, slots=1, near=1, grant_left=0, scan=0,
                        proof=1, proof_reads=reads, proof_ttl=ttl, proof_backoff=backoff,
                        proof_look=look, proof_span=span, proof_skipmap=skipmap,
                        proof_duemap=duemap)
    rec = simulate(t, pol, make_costmodel("tcg"), fast=False)
    c = pol.ctx
    return {"faults": rec.faults, "copies": rec.precopied, "proven": c.proven,
            "unproven": c.unproven_reads, "empty": c.proof_empty,
            "live": c.proof_skips + c.proof_other, "jumps": c.proof_jumps,
            "duejumps": c.proof_duejumps, "scans": c.proof_scans}


def prototype_counts(pages: int, stride: int, k: int, reads: int, ttl: int, backoff: int
                     ) -> tuple[int, int, int]:
    """(demand faults, unproven reads, ring steps that read nothing: over an empty slot, an
    entry not yet due or another region's) of a proofread run in the prototype."""
    import numpy as np

    c = prototype_run(np.arange(0, pages, stride), pages, k, reads, ttl, backoff)
    return c["faults"], c["unproven"], c["empty"] + c["live"]


def series_written(pages: int, stride: int, skip: int) -> Any:
    """The pages a proofstep or proofskip run writes, in order: every ``stride``-th page, but
    those = 1 mod ``skip`` (``skip`` 0: none left out)."""
    import numpy as np

    p = np.arange(0, pages, stride)
    return p[p % skip != 1] if skip else p


def series_counts(r: dict[str, Any]) -> list[dict[str, int]]:
    """The prototype's counts (``prototype_run``) of each run of a proofstep or proofskip
    result ``r``, on the same writes and flags."""
    return [prototype_run(series_written(r["pages"], x["stride"], x["skip"]), r["pages"],
                          r["k"], x["proof_reads"], x["proof_ttl"], x["proof_backoff"],
                          x["proof_look"], x["proof_span"], x["proof_skipmap"],
                          x.get("proof_duemap", 0))
            for x in r["runs"]]


RING_STEPS = {"empty": "proof_step_ns", "live": "proof_skip_ns", "jumps": "proof_jump_ns",
              "duejumps": "proof_duejump_ns", "scans": "proof_duescan_ns"}
"""The ring steps that read nothing, by the prototype's count: their cost model field."""
RING_NOUNS = {"empty": ("empty slot", "empty slots", "stepped over"),
              "live": ("live entry", "live entries", "stepped over"),
              "jumps": ("jump to the next live slot", "jumps", "made"),
              "duejumps": ("jump to the next slot not waiting", "due jumps", "made"),
              "scans": ("waiting entry", "waiting entries", "refreshed")}
"""Per ring step: its noun, plural and verb in ``bench_ring``'s lines."""


def pass_diffs(a: dict[str, Any], b: dict[str, Any], stat: str = "median") -> float:
    """Run ``b``'s loop time less run ``a``'s. ``median`` (the estimator since session 27):
    the median over the timed passes of the two runs' difference in the same pass
    (``loop_ns_reps``; a result without them, from an older harness, gives the difference of
    their ``loop_ns``). Under icount a pass's time is its own instructions plus whatever else
    the one vCPU ran meanwhile, and on 6.12 the per-CPU list refills move by about a batch
    (~30,000 instruction-ns) from pass to pass, in both runs of a pass alike or in a cycle of
    three runs: the median of five passes drops a pass hit by either, where a pair of single
    figures moved by 10-40% (docs/calibration.md, "The jump's pairs made sturdy").
    ``min``: each run's minimum over passes, differenced: on 6.1, whose passes repeat to
    ~0.5 instruction-ns a fault but for additive hits of one run at a time (+1 to +14 a
    fault, in up to 3 of 5 passes of a run), the sturdier one; on 6.12 it follows the
    jitter. ``median3``: the median of each run's first three passes, differenced (the
    statistic of ``loop_ns`` before session 27, for comparison)."""
    ra, rb = a.get("loop_ns_reps"), b.get("loop_ns_reps")
    if not ra or not rb:
        return float(b["loop_ns"] - a["loop_ns"])
    if stat == "median":
        return float(statistics.median(tb - ta for ta, tb in zip(ra, rb, strict=True)))
    if stat == "min":
        return float(min(rb) - min(ra))
    if stat == "median3":
        return float(statistics.median(rb[:3]) - statistics.median(ra[:3]))
    raise ValueError(f"pass_diffs: unknown stat {stat!r} (median, min or median3)")


def ring_price(a: dict[str, Any], b: dict[str, Any], ca: dict[str, int], cb: dict[str, int],
               cm: Any, what: str, stat: str = "median") -> tuple[float, float]:
    """One ring step's price (``what``: "empty" slot or "live" entry stepped over unread, or
    "jumps" to the next live slot) from runs ``a`` and ``b`` (the module's) and the
    prototype's counts of the same writes ``ca``, ``cb``: the loop's time difference
    (:func:`pass_diffs` by ``stat``) less the reads' (proving or not, at ``proof_read_ns``)
    and the other steps' (at ``cm``'s prices), over the difference in ``what``. Returns
    (price, share of the time difference priced away)."""
    reads = (cb["proven"] + cb["unproven"]) - (ca["proven"] + ca["unproven"])
    away = reads * cm.proof_read_ns + sum((cb[k] - ca[k]) * getattr(cm, f)
                                          for k, f in RING_STEPS.items() if k != what)
    diff = pass_diffs(a, b, stat)
    return (diff - away) / (cb[what] - ca[what]), away / diff


RING_PAIRS = {
    "step": ("proofstep", "empty", (("proof_ttl 0, reads 1 vs 16", (0, 1)),
                                    ("as shipped, all written vs 1 in 256 left", (2, 3)),
                                    ("as shipped, all written vs 1 in 64 left", (2, 4)))),
    "skip": ("proofskip", "live", (("as shipped, reads 8 vs 16", (0, 1)),
                                   ("as shipped, reads 4 vs 16", (2, 1)),
                                   ("proof_backoff alone, reads 8 vs 16", (3, 4)))),
    "jump": ("proofstep", "jumps", (("proof_skipmap, proof_ttl 0, reads 1 vs 16", (5, 6)),
                                    ("proof_skipmap as shipped, all written vs 1 in 256 left",
                                     (7, 8)),
                                    ("proof_skipmap as shipped, all written vs 1 in 64 left",
                                     (7, 9)))),
    "due": ("proofdue", "duejumps", (("proof_duemap, all written vs 1 in 16 left", (0, 1)),
                                     ("proof_duemap, all written vs 1 in 4 left", (0, 2)))),
    "scan": ("proofdue", "scans", (("proof_duemap, every 2nd written, reads 4 vs 8", (3, 4)),)),
}
"""Per ``--what``: the cowrl_stress test, the ring step it prices, and its pairs of runs."""

STEP_FLOOR = 0.9
"""The kernel test's floor for the empty slot's and the live entry's dearest pair: at least
this share of ``tcg``'s price, so the price is not stale (tests/kernel/test_kernel_target.py,
``test_proof_ring_steps_are_priced_at_least_what_they_cost``)."""
JUMP_FLOOR = 0.65
"""The dearest jump pair of a 6.1 session, from each run's minimum over passes, is at least
this share of ``tcg``'s ``proof_jump_ns`` (62.7 since session 26, the dearest 6.12 pair of
single figures measured): 42.6-43.2 (0.68-0.69) in four boots in session 27; 6.12's dearest
(the median over passes) moves from boot to boot, 40.3-43.3 (0.64-0.69), unchecked."""
DUE_FLOOR = 0.8
"""The dearest ``proof_duemap`` due-jump pair of a session is at least this share of ``tcg``'s
``proof_duejump_ns`` (178.0 since session 34; 0.8 of it is 142.4): in session 34 the dearest
pair of a boot was 154.2-155.3 on 6.1 (12 boots, 0.87) and 155.0-164.6 on 6.12 (22 boots,
0.87-0.93). The price sits above 6.12's 1-in-16 pair, whose median over 5 passes moves by
~17 a jump with a per-CPU list refill more or less in a run (172.6 in one session-33 boot),
so the floor is lower than the 0.9 of the other steps (docs/calibration.md, "The due jump
re-priced")."""
SCAN_FLOOR = 0.85
"""The ``proof_duemap`` refresh pair (one pair) is at least this share of ``tcg``'s
``proof_duescan_ns`` (11.0): the pair prices its 11,937 more due jumps away at
``proof_duejump_ns``, an upper bound ~20 above what a jump costs (154-159 in the 1-in-4
pairs), and at 178 a refreshed entry is 9.72-9.73 on 6.1 (12 boots, 0.88) and 9.68-9.88 on
6.12 (22 boots, 0.88-0.90) in session 34; 10.40-10.60 at the jump's old price 165."""


def ring_floor(what: str, release: str) -> tuple[float, str] | None:
    """The kernel test's floor for ``--what``'s dearest pair on Linux ``release``: (the share
    of ``tcg``'s price it must reach, the :func:`pass_diffs` statistic it is priced with), or
    None where it is unchecked (the jump on 6.12, whose pairs move from boot to boot)."""
    if what not in RING_PAIRS:
        raise ValueError(f"ring_floor: unknown --what {what!r} ({', '.join(RING_PAIRS)})")
    if what == "jump":  # 6.1's passes are hit one run at a time, additively: each run's min
        return (JUMP_FLOOR, "min") if release.startswith("6.1.") else None
    return {"due": DUE_FLOOR, "scan": SCAN_FLOOR}.get(what, STEP_FLOOR), "median"


def floor_holds(per: list[float], price: float, share: float) -> bool:
    """Whether the dearest of a series' pair prices ``per`` is at least ``share`` x ``price``
    (the price is not stale)."""
    return max(per) >= share * price


def bench_ring(releases: list[str], what: str, scale: int = 1) -> int:
    """``--what step`` / ``skip`` / ``jump``: the price of one empty slot / one live entry a
    look steps over unread / one jump to the next live slot, from pairs of proofstep /
    proofskip / proofstep runs (module docstring)."""
    from cowrl.registry import make_costmodel

    cm = make_costmodel("tcg")
    test, priced, pairs = RING_PAIRS[what]
    for rel in releases:
        s, r = stress(rel, test, scale)
        if not r.get("ok"):
            return 1
        runs = r["runs"]
        counts = series_counts(r)
        print(f"== Linux {s.info['kernel_release']} (icount 0: instruction-ns), {r['pages']} "
              f"pages written in order, k = {r['k']}, {r['repeats']} timed passes; "
              f"priced at "
              f"proof_read_ns {cm.proof_read_ns}, proof_step_ns {cm.proof_step_ns}, "
              f"proof_skip_ns {cm.proof_skip_ns}, proof_jump_ns {cm.proof_jump_ns}, "
              f"proof_duejump_ns {cm.proof_duejump_ns}, proof_duescan_ns "
              f"{cm.proof_duescan_ns} (tcg)")
        for x, c in zip(runs, counts, strict=True):
            same = (x["demand_faults"], x["precopy_copies"], x["proof_credited"]) == (
                c["faults"], c["copies"], c["proven"]) and x["proof_lost"] == 0
            print(f"  reads {x['proof_reads']:2d} ttl {x['proof_ttl']:2d} backoff "
                  f"{x['proof_backoff']} look {x['proof_look']} span {x['proof_span']} skipmap "
                  f"{x['proof_skipmap']} duemap {x.get('proof_duemap', 0)} stride "
                  f"{x['stride']} skip {x['skip']:3d}: "
                  f"{x['loop_ns'] / c['faults']:8.1f} per fault (median); {c['faults']} faults, "
                  f"{c['copies']} copies, {c['proven']} proven, {c['unproven']} unproven "
                  f"reads, {c['empty']} empty slots and {c['live']} live entries stepped over, "
                  f"{c['jumps']} jumps, {c['duejumps']} due jumps, {c['scans']} waiting "
                  f"entries refreshed; faults, copies and proofs as the prototype's, none "
                  f"lost: {same}")
            if x.get("loop_ns_reps"):
                print(f"      per fault in the warm-up {x['loop_ns_warmup'] / c['faults']:.1f} "
                      "(0: none), in each timed pass, in order: " + " ".join(
                          f"{t / c['faults']:.1f}" for t in x["loop_ns_reps"]))
        for name, (i, j) in pairs:
            per, away = ring_price(runs[i], runs[j], counts[i], counts[j], cm, priced)
            low = ring_price(runs[i], runs[j], counts[i], counts[j], cm, priced, "min")[0]
            old = ring_price(runs[i], runs[j], counts[i], counts[j], cm, priced, "median3")[0]
            noun, nouns, verb = RING_NOUNS[priced]
            print(f"  {name}: {counts[j][priced] - counts[i][priced]} more {nouns} "
                  f"({away:.1%} of the time difference priced away); one {noun} {verb} "
                  f"costs {per:.1f} instruction-ns (the median over passes; from each run's "
                  f"minimum {low:.1f}; each run's median of its first 3 passes, as before "
                  f"session 27: {old:.1f})")
            reps = list(zip(runs[i].get("loop_ns_reps", []), runs[j].get("loop_ns_reps", []),
                            strict=True))
            if reps:
                one = [ring_price({"loop_ns": ta}, {"loop_ns": tb}, counts[i], counts[j], cm,
                                  priced)[0] for ta, tb in reps]
                print("      pass by pass: " + " ".join(f"{p:.1f}" for p in one))
    return 0


def bench_read(releases: list[str]) -> int:
    for rel in releases:
        s, r = stress(rel, "proofread")
        if not r.get("ok"):
            return 1
        one, many, ttl1, flat, bo = r["runs"]
        faults = one["demand_faults"]
        same = all(x["demand_faults"] == faults and x["precopy_copies"] == one["precopy_copies"]
                   and x["proof_credited"] == 0 and x["proof_lost"] == 0
                   for x in (one, many, ttl1))
        same_k1 = all(x["proof_credited"] == 0 and x["proof_lost"] == 0 for x in (flat, bo))
        n1, n16 = reads_done(faults, 1), reads_done(faults, 16)
        per_read = (many["loop_ns"] - one["loop_ns"]) / (n16 - n1)
        n_ttl = reads_done(faults, 16, ttl=1)
        print(f"== Linux {s.info['kernel_release']} (icount 0: instruction-ns), {r['pages']} "
              f"pages, every {r['stride']}th written, k = 8, median of {r['repeats']}: "
              f"{faults} demand faults, {one['precopy_copies']} copies (cleaned "
              f"{one['proof_clean']}), none credited or lost: {same}")
        print(f"  proof_reads 1: {one['loop_ns'] / faults:8.0f} per fault ({n1} reads); "
              f"16: {many['loop_ns'] / faults:8.0f} ({n16} reads); one unproven read costs "
              f"{per_read:.1f} instruction-ns ({per_read / one['loop_ns'] * faults:.2%} of a "
              f"fault with its window)")
        print(f"  proof_ttl 1, 16 reads: {ttl1['loop_ns'] / faults:8.0f} per fault "
              f"({n_ttl} reads expected; at {per_read:.1f} per read the model predicts "
              f"{(one['loop_ns'] + (n_ttl - n1) * per_read) / faults:8.0f})")
        (fa, ra, sa), (fb, rb, sb) = (
            prototype_counts(r["pages"], x["stride"], x["k"], x["proof_reads"],
                             x["proof_ttl"], x["proof_backoff"]) for x in (flat, bo))
        same_bo = (flat["demand_faults"], bo["demand_faults"], flat["precopy_copies"]) == (
            fa, fb, bo["precopy_copies"])
        per_step = (bo["loop_ns"] - flat["loop_ns"] - (rb - ra) * per_read) / (sb - sa)
        print(f"  k = 1, every 2nd page, 16 reads: ttl 0 {flat['loop_ns'] / fa:8.0f} per fault "
              f"({ra} reads, {sa} ring steps reading nothing in the prototype), ttl 16 with "
              f"backoff {bo['loop_ns'] / fb:8.0f} ({rb} reads, {sb} such steps, "
              f"{sb / fb:.1f} per fault); "
              f"faults and copies as the prototype's: {same_bo}, none credited or lost: "
              f"{same_k1}; one ring step that reads nothing costs "
              f"{per_step:.1f} instruction-ns")
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
