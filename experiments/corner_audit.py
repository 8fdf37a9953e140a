"""Audit: the shielded policies' bound at shapes and sizes outside the generators' ranges.

    nice -n 10 python train.py policy=bandit out=DIR           # the default bandit, once
    nice -n 10 python experiments/corner_audit.py --bandit-checkpoint DIR --jobs 2
    python experiments/corner_audit.py --small                  # the CI-sized run (~30 s)
    python experiments/corner_audit.py --corners bait_seq_random --costmodels host

Every trace is built here, from the corners declared in :data:`CORNERS` (declared before any
result was seen, session 43): tiny regions (1..256 pages), huge ones (65,536..262,144), very
short traces (1..200 writes), very long ones (10-20 x the region), and shapes that attack a
budget financed by proofs (bait-and-switch, runs that stop when the window has grown, sawtooth
and backward sweeps, far-apart streams, extreme strides, repeated sweeps, hot sets inside a
sweep, an inward quicksort-like writer). Like a private trace file (a 1-D int64 ``.npy``),
each is one region of ``max + 1`` pages; ``--out DIR`` writes them as ``DIR/<name>.npy`` and
evaluates the files as loaded back (:func:`cowrl.traces.io.load_trace`).

Each (trace, cost model) runs, per policy, the path ``eval.py target=sim`` takes
(:func:`cowrl.evaluate.load_policies`, :func:`cowrl.evaluate.plan_runs`, the simulator
target, :func:`cowrl.metrics.summarize`), lambda 1: ``baseline``, ``guarded``, ``shield64``,
``guarded0``, the default bandit (``--bandit-checkpoint``: a ``train.py policy=bandit``
directory or ``policy.json``; left out without it), ``readahead``, ``precopy_best`` and the
``oracle``. Per run it reports objective / baseline, wasted / precopied pages, the seconds it
took and the process's peak memory; per trace also its safe ceiling
(:func:`cowrl.policies.ceiling.safe_ceiling`, slack 0.02: the least objective / baseline any
policy that meets the safety target on every prefix can reach; 1 = no safe policy gains).

Flags (the table's last column, and the summary):

* ``TARGET``: over issue #10's safety target: objective > 1.02 x baseline (``seed_table1``,
  ``host``), or > baseline + baseline's faults x the policy's decision cost (``tcg``);
* ``BOUND`` (shielded policies only): over the budget's own bound, baseline + baseline's
  faults x (the allowance + the decision cost) of the policy as deployed under the cost model
  (``GuardedPolicy.allowance``: 1% of a demand fault under ``seed_table1`` / ``host``, 0 where
  the policy is inert, ``tcg``); an inert policy's bound is baseline itself;
* ``GRANT`` (a GUARDED program: shielded policies): the loss over ``k = 0`` (its objective
  minus baseline's, less baseline's faults x the decision cost where the policy decides)
  above the allowances the run actually granted (the simulator's ``guard_add_allow_ns``
  tally): the budget's bound itself, trace by trace, tighter than ``BOUND``;
* ``ERROR`` (an exception, the run's row left out), ``SLOW`` (a run over 60 s), ``MEM`` (the
  process's peak RSS over 2 GiB after the run).

Policies that are not shielded (``readahead``, ``precopy_best``) are expected to exceed the
target; their flags are context. These traces are for measurement only: never train, tune or
choose options on them.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

AUDIT_SEED = 20261243
"""Root of every draw here (its own stream: no generator, protocol or audit seed uses it)."""
SAFETY = 1.02
SLOW_S = 60.0
MEM_MB = 2048
SHIELDED = ("guarded", "shield64", "guarded0", "bandit")
"""Policies with the risk budget (the bound is checked for them)."""
POLICIES = ("baseline", "guarded", "shield64", "guarded0", "readahead", "precopy_best",
            "oracle")


# --- the corners: builders of a 1-D page array (region = max + 1) -------------------------

Builder = Callable[[np.random.Generator], np.ndarray]


def _a(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).reshape(-1)


def seq(n: int, start: int = 0) -> Builder:
    """One ascending sweep of ``n`` pages from ``start``."""
    return lambda rng: start + np.arange(n)


def backward(n: int) -> Builder:
    """One descending sweep, ``n - 1`` down to 0."""
    return lambda rng: np.arange(n)[::-1]


def repeat(b: Builder, times: int) -> Builder:
    """``b``'s pages ``times`` times over (later passes write private pages: no fault)."""
    return lambda rng: np.tile(b(rng), times)


def uniform(n: int, writes: int) -> Builder:
    """``writes`` uniform random writes over ``n`` pages (page ``n - 1`` written last, so
    the region is ``n``)."""
    return lambda rng: np.append(rng.integers(0, n, size=writes - 1), n - 1)


def permutation(n: int) -> Builder:
    """Every page of ``n`` once, in random order."""
    return lambda rng: rng.permutation(n)


def strided(n: int, s: int, writes: int | None = None) -> Builder:
    """``i * s mod n`` for i in 0..writes-1 (default ``n``): every page when ``s`` is coprime
    with ``n``; ``s = n - 1`` is a jump to the top then a descending sweep."""
    return lambda rng: (np.arange(writes or n) * s) % n


def zipf_hot(n: int, writes: int, a: float = 1.1) -> Builder:
    """Zipf(``a``) ranks over a random permutation of ``n`` pages."""

    def build(rng: np.random.Generator) -> np.ndarray:
        ranks = np.minimum(rng.zipf(a, size=writes) - 1, n - 1)
        return np.append(rng.permutation(n)[ranks], n - 1)
    return build


def bait_switch(n: int, phase: int, tail: int, kind: str = "random") -> Builder:
    """A sequential (``kind`` random / sparse) or stride-4 (``stride``) phase over the first
    ``phase`` pages, which earns proofs, then ``tail`` writes: uniform random over the region
    (``random``, ``stride``) or ascending sparse pages past the phase, gaps of 8-64
    (``sparse``)."""

    def build(rng: np.random.Generator) -> np.ndarray:
        head = np.arange(0, phase, 4) if kind == "stride" else np.arange(phase)
        if kind == "sparse":
            gaps = rng.integers(8, 65, size=tail)
            rest = phase + np.cumsum(gaps)
            rest = rest[rest < n]
        else:
            rest = rng.integers(0, n, size=tail)
        return np.concatenate([head, rest, [n - 1]])
    return build


def bait_periodic(n: int, burst: int, noise: int) -> Builder:
    """Repeated: a sequential burst of ``burst`` fresh pages (ascending through the region),
    then ``noise`` uniform random writes over the whole region; until the region is swept."""

    def build(rng: np.random.Generator) -> np.ndarray:
        out = []
        for c in range(0, n, burst):
            out.append(np.arange(c, min(c + burst, n)))
            out.append(rng.integers(0, n, size=noise))
        return np.concatenate(out)
    return build


def stop_at_window(n: int, lengths: Sequence[int], runs: int) -> Builder:
    """``runs`` sequential runs of a length drawn from ``lengths`` (one page past a power of
    two: the run ends just after a doubling window grew), each at a random place of a fresh
    slice of the region (runs never touch)."""

    def build(rng: np.random.Generator) -> np.ndarray:
        slot = n // runs
        out = []
        for r in range(runs):
            length = int(rng.choice(lengths))
            lo = r * slot + int(rng.integers(0, max(1, slot - length)))
            out.append(np.arange(lo, min(lo + length, n)))
        return np.append(np.concatenate(out), n - 1)
    return build


def run_gap(n: int, run: int, gap: int) -> Builder:
    """Runs of ``run`` pages with ``gap`` pages never written between them (the gap as large
    as the largest window)."""
    return lambda rng: np.concatenate([np.arange(c, min(c + run, n))
                                       for c in range(0, n, run + gap)] + [[n - 1]])


def sawtooth_down(n: int, tooth: int) -> Builder:
    """Teeth of ``tooth`` pages, each written descending, the teeth ascending."""
    return lambda rng: np.concatenate([np.arange(min(c + tooth, n) - 1, c - 1, -1)
                                       for c in range(0, n, tooth)])


def saw_back(n: int, fwd: int, back: int) -> Builder:
    """Forward ``fwd`` pages, back ``back`` (rewriting private pages), again (net ``fwd -
    back`` per tooth)."""

    def build(rng: np.random.Generator) -> np.ndarray:
        out, c = [], 0
        while c < n:
            out.append(np.arange(c, min(c + fwd, n)))
            out.append(np.arange(min(c + fwd, n) - 1, max(c + fwd - back, 0) - 1, -1))
            c += fwd - back
        return np.concatenate(out)
    return build


def two_streams(n: int, max_burst: int) -> Builder:
    """Two ascending streams, from 0 and from ``n / 2``, alternating in bursts of 1 (strictly
    alternate) or of 1..``max_burst`` writes."""

    def build(rng: np.random.Generator) -> np.ndarray:
        half = n // 2
        a = b = 0
        out: list[int] = []
        side = 0
        while a < half or b < n - half:
            m = 1 if max_burst <= 1 else int(rng.integers(1, max_burst + 1))
            for _ in range(m):
                if side == 0 and a < half:
                    out.append(a)
                    a += 1
                elif side == 1 and b < n - half:
                    out.append(half + b)
                    b += 1
            side = 1 - side
        return _a(out)
    return build


def stride_epochs(n: int, strides: Sequence[int], per: int) -> Builder:
    """Constant-stride epochs of ``per`` writes, the stride changing every epoch (each epoch
    from a fresh start in its own slice): the stride detector's strided windows are baited
    then broken."""

    def build(rng: np.random.Generator) -> np.ndarray:
        out, base = [], 0
        for s in strides:
            out.append(base + np.arange(per) * s)
            base += per * s
        p = np.concatenate(out)
        return p[p < n]
    return build


def sweep_twice_shifted(n: int) -> Builder:
    """A sweep of the first half, then a sweep of the whole region (the first half of the
    second pass hits private pages only, then new ones)."""
    return lambda rng: np.concatenate([np.arange(n // 2), np.arange(n)])


def hot_in_sweep(n: int, hot: int, share: float, scattered: bool) -> Builder:
    """A sweep where each step also writes, with probability ``share``, a Zipf-chosen page of
    a hot set of ``hot`` pages: at the region's start (already written: revisits) or
    ``scattered`` over the region (mostly ahead of the sweep: early faults, holes later)."""

    def build(rng: np.random.Generator) -> np.ndarray:
        hs = rng.choice(n, size=hot, replace=False) if scattered else np.arange(hot)
        ranks = np.minimum(rng.zipf(1.2, size=n) - 1, hot - 1)
        extra = np.where(rng.random(n) < share, hs[ranks], -1)
        out = np.stack([np.arange(n), extra], axis=1).reshape(-1)
        return out[out >= 0]
    return build


def quicksort_inward(n: int, per_page: int = 512) -> Builder:
    """An in-place quicksort's writes (elements of 8 bytes, ``per_page`` a page): per
    partition two pointers move inward from both ends, swapping (both pages written) at
    random steps; then the left part, then the right one (depth first), down to a page."""

    def build(rng: np.random.Generator) -> np.ndarray:
        out: list[np.ndarray] = []
        stack = [(0, n * per_page)]
        while stack:
            lo, hi = stack.pop()
            if hi - lo <= per_page:
                continue
            swaps = max(1, (hi - lo) // per_page)
            i = np.sort(rng.integers(lo, (lo + hi) // 2, size=swaps))
            j = np.sort(rng.integers((lo + hi) // 2, hi, size=swaps))[::-1]
            out.append(np.stack([i, j], axis=1).reshape(-1) // per_page)
            mid = int(rng.integers(lo + (hi - lo) // 4, hi - (hi - lo) // 4))
            stack += [(mid, hi), (lo, mid)]
        return np.concatenate(out + [[n - 1]])
    return build


def late_halves(n: int, block: int, lag: int) -> Builder:
    """Blocks of ``block`` pages: the first half of each written when its block comes, the
    second half ``lag`` blocks later (a copy past a half is used, but long after)."""

    def build(rng: np.random.Generator) -> np.ndarray:
        h = block // 2
        nb = n // block
        out = []
        for b in range(nb + lag):
            if b < nb:
                out.append(b * block + np.arange(h))
            if b - lag >= 0:
                out.append((b - lag) * block + h + np.arange(block - h))
        return np.concatenate(out)
    return build


def ring_wrap(n: int, laps: float) -> Builder:
    """A ring buffer's writes from a head near the region's end, wrapping to page 0."""
    return lambda rng: (n - 37 + np.arange(int(laps * n))) % n


def quads(n: int, count: int) -> Builder:
    """``count`` aligned 4-page blocks at random places (never adjacent), each written
    ascending: the block's last page has 3 private left neighbours (an allowance), the window
    past it is never written."""

    def build(rng: np.random.Generator) -> np.ndarray:
        slots = rng.choice(n // 8, size=count, replace=False) * 8
        return np.append((slots[:, None] + np.arange(4)).reshape(-1), n - 1)
    return build


def skip_every(n: int, m: int) -> Builder:
    """A sweep that never writes every ``m``-th page (a hole where a window lands)."""
    return lambda rng: np.array([p for p in range(n) if p % m != m - 1] + [n - 1])


def floor_bait(n: int, burst: int, runs: int, length: int) -> Builder:
    """Repeated: a sequential burst of ``burst`` pages (the sentinel hit rate rises above
    the floor), then ``runs`` runs of ``length`` pages at random fresh places (each run's
    window wasted), until the region is used."""

    def build(rng: np.random.Generator) -> np.ndarray:
        out, c = [], 0
        while c + burst + runs * (length + 64) < n:
            out.append(np.arange(c, c + burst))
            c += burst
            for _ in range(runs):
                c += int(rng.integers(16, 64))
                out.append(np.arange(c, c + length))
                c += length
        return np.append(np.concatenate(out), n - 1)
    return build


def round_robin(n: int, streams: int) -> Builder:
    """``streams`` ascending streams over equal slices, one write each in turn (more streams
    than the policy's 4 slots)."""
    per = n // streams
    return lambda rng: (np.arange(per)[:, None] + per * np.arange(streams)[None, :]).reshape(-1)


def even_up_odd_down(n: int) -> Builder:
    """Even pages ascending (a stride-2 writer), then odd pages descending."""
    return lambda rng: np.concatenate([np.arange(0, n, 2), np.arange(n - 1, 0, -2)])


def far_pair(n: int, far: int) -> Builder:
    """A sweep of ``n`` pages, then one write at page ``far - 1`` (the region ``far``)."""
    return lambda rng: np.append(np.arange(n), far - 1)


@dataclass(frozen=True)
class Corner:
    name: str
    group: str
    build: Builder
    what: str


def _c(name: str, group: str, build: Builder, what: str) -> Corner:
    return Corner(name, group, build, what)


CORNERS: list[Corner] = [
    # sizes: tiny regions
    _c("tiny_1", "size", seq(1), "one page, one write"),
    _c("tiny_2", "size", seq(2), "two pages in order"),
    _c("tiny_8_x3", "size", repeat(seq(8), 3), "8 pages swept 3 times"),
    _c("tiny_16_rand", "size", uniform(16, 64), "64 random writes over 16 pages"),
    _c("tiny_64_seq", "size", seq(64), "64-page sweep"),
    _c("tiny_256_seq", "size", seq(256), "256-page sweep"),
    _c("tiny_256_back", "size", backward(256), "256-page descending sweep"),
    _c("tiny_255_stride2", "size", strided(512, 2, 128), "stride 2 over 255 pages"),
    _c("tiny_128_perm", "size", permutation(128), "128 pages in random order"),
    # sizes: huge regions
    _c("huge_seq_65536", "size", seq(65536), "65,536-page sweep"),
    _c("huge_seq_262144", "size", seq(262144), "262,144-page sweep"),
    _c("huge_rand_262144", "size", uniform(262144, 65536), "65,536 random writes, 262,144 pages"),
    _c("huge_stride7_131072", "size", strided(131072, 7),
       "stride 7 over 131,072 pages, wrapping (every page once)"),
    _c("huge_bait_262144", "size", bait_switch(262144, 32768, 32768),
       "32,768-page sweep, then 32,768 random writes over 262,144"),
    # sizes: very short traces (in a region of ~8,000-16,384 pages)
    _c("short_1_top", "size", seq(1, 16383), "one write at page 16,383"),
    _c("short_5", "size", seq(5, 8000), "5-page run at 8,000"),
    _c("short_20", "size", seq(20, 8000), "20-page run"),
    _c("short_60", "size", seq(60, 8000), "60-page run"),
    _c("short_200", "size", seq(200, 8000), "200-page run"),
    _c("short_200_top", "size", seq(200, 16184), "200-page run ending at the region's end"),
    _c("short_rand_100", "size", uniform(16384, 100), "100 random writes over 16,384"),
    _c("short_stride3_200", "size", strided(600, 3, 200), "200 writes at stride 3"),
    # sizes: very long traces (10-20 x the region)
    _c("long_rand_20x_1024", "size", uniform(1024, 20480), "20 x 1,024 random writes"),
    _c("long_sweeps_10x_2048", "size", repeat(seq(2048), 10), "2,048-page sweep, 10 times"),
    _c("long_zipf_16x_4096", "size", zipf_hot(4096, 65536), "Zipf(1.1), 16 x 4,096"),
    _c("long_rand_10x_16384", "size", uniform(16384, 163840), "10 x 16,384 random writes"),
    # adversarial: bait and switch
    _c("bait_seq_random", "bait", bait_switch(8192, 4096, 8192),
       "4,096-page sweep, then 8,192 random writes over 8,192"),
    _c("bait_seq_sparse", "bait", bait_switch(16384, 4096, 2000, "sparse"),
       "4,096-page sweep, then ascending sparse pages (gaps 8-64)"),
    _c("bait_stride_random", "bait", bait_switch(16384, 8192, 8192, "stride"),
       "stride 4 over 8,192 pages, then 8,192 random writes"),
    _c("bait_periodic_256", "bait", bait_periodic(16384, 256, 256),
       "256-page bursts, 256 random writes after each"),
    _c("bait_periodic_64", "bait", bait_periodic(8192, 64, 64),
       "64-page bursts, 64 random writes after each"),
    _c("bait_periodic_1024", "bait", bait_periodic(32768, 1024, 2048),
       "1,024-page bursts, 2,048 random writes after each"),
    # adversarial: runs that stop when the window has grown
    _c("stop_65", "stop", stop_at_window(16384, [65], 200), "200 runs of 65 pages"),
    _c("stop_129", "stop", stop_at_window(32768, [129], 200), "200 runs of 129 pages"),
    _c("stop_mixed", "stop", stop_at_window(32768, [9, 17, 33, 65, 129], 300),
       "300 runs of 9/17/33/65/129 pages"),
    _c("run64_gap64", "stop", run_gap(16384, 64, 64), "runs of 64, gaps of 64"),
    _c("run8_gap64", "stop", run_gap(16384, 8, 64), "runs of 8, gaps of 64"),
    # adversarial: sawtooth, backward
    _c("backward_8192", "saw", backward(8192), "8,192-page descending sweep"),
    _c("saw_down_64", "saw", sawtooth_down(8192, 64), "descending teeth of 64, ascending"),
    _c("saw_back_32_16", "saw", saw_back(8192, 32, 16), "forward 32, back 16"),
    # adversarial: far-apart streams
    _c("two_streams_1", "streams", two_streams(16384, 1), "0 and n/2, strictly alternating"),
    _c("two_streams_8", "streams", two_streams(16384, 8), "0 and n/2, bursts of 1-8"),
    _c("ring_wrap", "streams", ring_wrap(4096, 1.5), "ring from n-37, wrapping, 1.5 laps"),
    # adversarial: extreme strides
    _c("stride_n_minus_1", "stride", strided(4096, 4095), "stride n-1 (jump, then down)"),
    _c("stride_half_plus_1", "stride", strided(4096, 2049), "stride n/2+1 (two far streams)"),
    _c("stride_n_over_3", "stride", strided(4096, 1365), "stride 1,365 over 4,096 (wraps)"),
    _c("stride_1023", "stride", strided(16384, 1023), "stride 1,023 over 16,384"),
    _c("stride_65", "stride", strided(65 * 512, 65, 512), "stride 65 (just past a window)"),
    _c("stride_epochs", "stride", stride_epochs(65536, [2, 3, 5, 2, 7, 3, 11, 2], 400),
       "400 writes per stride, 8 strides"),
    # adversarial: repeated sweeps and revisits
    _c("sweep_twice", "revisit", repeat(seq(8192), 2), "8,192-page sweep, twice"),
    _c("sweep_half_then_all", "revisit", sweep_twice_shifted(8192),
       "first half, then all of it"),
    _c("hot_in_sweep", "revisit", hot_in_sweep(16384, 64, 0.5, False),
       "sweep + 50% Zipf writes to 64 hot pages at the start"),
    _c("hot_scattered_sweep", "revisit", hot_in_sweep(16384, 256, 0.3, True),
       "sweep + 30% Zipf writes to 256 scattered hot pages"),
    _c("late_halves", "revisit", late_halves(16384, 256, 8),
       "per 256-page block: first half, second half 8 blocks later"),
    # a kind of the validation set's names, own code
    _c("quicksort_inward", "kind", quicksort_inward(4096), "in-place quicksort partitions"),
    # round 2: declared after round 1's results (every shielded row within its bound), before
    # these were measured; aimed at the budget's own mechanisms: the allowance's grant (3
    # private left neighbours), the floor (the sentinel hit rate), the stream slots, the
    # proof ring's time to live
    _c("r2_quads", "round2", quads(65536, 4000), "4,000 isolated 4-page blocks"),
    _c("r2_run4_gap61", "round2", run_gap(16384, 4, 61), "runs of 4, gaps of 61"),
    _c("r2_skip_every_9", "round2", skip_every(16384, 9), "sweep, every 9th page never written"),
    _c("r2_skip_every_65", "round2", skip_every(16384, 65), "sweep, every 65th never written"),
    _c("r2_floor_bait", "round2", floor_bait(65536, 256, 20, 17),
       "256-page bursts, then 20 runs of 17 at fresh places"),
    _c("r2_streams_16", "round2", round_robin(65536, 16), "16 streams round robin"),
    _c("r2_even_up_odd_down", "round2", even_up_odd_down(16384),
       "even pages up, then odd pages down"),
    _c("r2_late_halves_far", "round2", late_halves(131072, 128, 600),
       "per 128-page block: second half 600 blocks later"),
    _c("r2_huge_stop_mixed", "round2", stop_at_window(262144, [9, 17, 33, 65, 129], 2000),
       "2,000 runs of 9..129 pages over 262,144"),
    _c("r2_huge_periodic", "round2", bait_periodic(262144, 512, 512),
       "512-page bursts, 512 random writes after each, 262,144 pages"),
    # round 2b (declared with round 2): a region far beyond 262,144 pages because one write
    # lands far away (region = max + 1 in the .npy format): memory and time
    _c("r2_far_sparse_2p24", "round2", uniform(1 << 24, 2000),
       "2,000 random writes over 16,777,216 pages"),
    _c("r2_far_pair_2p26", "round2", far_pair(2048, 1 << 26),
       "2,048-page sweep, then one write at page 67,108,863"),
]
"""The declared corners (session 43): round 1 before any result; ``round2`` after round 1's
results, before its own. ``group``: size, bait, stop, saw, streams, stride, revisit, kind,
round2."""

SMALL = ["tiny_1", "tiny_16_rand", "tiny_256_back", "short_5", "short_60", "short_200_top",
         "long_rand_20x_1024", "bait_seq_random", "bait_periodic_64", "bait_stride_random",
         "stop_65", "run8_gap64", "saw_down_64", "two_streams_1", "stride_n_minus_1",
         "stride_epochs", "hot_scattered_sweep", "quicksort_inward", "r2_quads",
         "r2_run4_gap61"]
"""``--small``: a CI-sized subset (regions <= 65,536 pages), the bait-and-switch shapes and
the two round-2 shapes that come nearest the budget's bound in it."""


def build(corner: Corner) -> Trace:
    """The corner's trace: one region of ``max + 1`` pages, as a ``.npy`` file loads."""
    rng = np.random.default_rng([AUDIT_SEED, [c.name for c in CORNERS].index(corner.name)])
    pages = _a(corner.build(rng))
    if pages.size == 0 or int(pages.min()) < 0:
        raise ValueError(f"{corner.name}: empty or negative pages")  # a builder's bug
    return Trace(pages=pages, n_pages=int(pages.max()) + 1, name=corner.name,
                 meta={"generator": f"corner_audit.{corner.name}", "group": corner.group})


def select(names: str | None, small: bool) -> list[Corner]:
    """The corners of ``--corners`` (comma list), else ``--small``'s, else all of them."""
    by = {c.name: c for c in CORNERS}
    want = names.split(",") if names else (SMALL if small else list(by))
    bad = [n for n in want if n not in by]
    if bad:
        raise ConfigError(f"--corners: unknown corner {bad[0]!r} (corners: {', '.join(by)})")
    return [by[n] for n in want]


# --- running: eval.py's path, one (trace, cost model) per task -----------------------------


def policies_for(bandit: Path | None, names: Sequence[str]) -> list[Any]:
    """The policies as ``eval.py`` loads them (:func:`cowrl.evaluate.load_policies`)."""
    from omegaconf import OmegaConf

    from cowrl.evaluate import load_policies

    cfg = OmegaConf.create({"lambda": 1.0, "policies": list(names),
                            "checkpoints": [str(bandit)] if bandit else [],
                            "latest_dir": None})
    return load_policies(cfg)


def run_one(trace: Trace, costmodel: str, bandit: Path | None,
            names: Sequence[str]) -> list[dict[str, Any]]:
    """Every policy on ``trace`` under ``costmodel``: one row each (``error`` set instead of
    the figures when the run raised), with its seconds and the process's peak RSS (MB)."""
    from cowrl.evaluate import plan_runs
    from cowrl.metrics import summarize
    from cowrl.registry import make_costmodel
    from cowrl.sim.simulator import decides
    from cowrl.targets.base import Plan
    from cowrl.targets.sim import SimTarget

    cost = make_costmodel(costmodel)
    target = SimTarget()
    rows: list[dict[str, Any]] = []
    for p in policies_for(bandit, names):
        row: dict[str, Any] = {"trace": trace.name, "group": trace.meta.get("group", "-"),
                               "costmodel": costmodel, "policy": p.name,
                               "n_pages": trace.n_pages, "writes": trace.writes}
        t0 = time.perf_counter()
        try:
            dep = p.deployed_under(cost)
            [rec] = target.run(Plan(plan_runs([trace], [p], target, cost), cost, seed=0))
            s = summarize(rec, 1.0, cost.page_cost_ns)
            row.update(objective=s["objective"], faults=s["faults"],
                       precopied=s["precopied"], wasted=s["wasted"],
                       decide_ns=cost.decide_cost(p.decide_program),
                       decides=bool(decides(dep)),
                       allowance_ns=float(getattr(dep, "allowance", 0)),
                       inert=bool(getattr(dep, "inert", False)))
            if "guard_add_allow_ns" in rec.extra:  # a GUARDED program: the allowances granted
                row["granted_ns"] = float(rec.extra["guard_add_allow_ns"])
        except Exception as e:  # noqa: BLE001  (reported, the audit goes on)
            row["error"] = f"{type(e).__name__}: {e}"
        row["seconds"] = time.perf_counter() - t0
        row["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(row)
    try:  # what the safety target itself allows (docs/policies.md, "The safe ceiling")
        from cowrl.policies.ceiling import safe_ceiling

        c = safe_ceiling(trace, cost, 1.0, slack=SAFETY - 1)
        rows[0].update(ceiling=float(c.ratio), first_saved=int(c.first_fault_saved))
    except Exception as e:  # noqa: BLE001
        rows[0]["ceiling_error"] = f"{type(e).__name__}: {e}"
    return rows


def judge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with ``ratio`` (objective / baseline), ``target`` and ``bound`` (the limits
    as ratios) and its ``flags``."""
    base = {(r["trace"], r["costmodel"]): r for r in rows
            if r["policy"] == "baseline" and "error" not in r}
    for r in rows:
        flags = []
        b = base.get((r["trace"], r["costmodel"]))
        if "error" in r:
            flags.append("ERROR")
        elif b is not None:
            bo, bf = b["objective"], b["faults"]
            r["ratio"] = r["objective"] / bo
            if r["costmodel"] == "tcg":
                r["target"] = (bo + bf * r["decide_ns"]) / bo
            else:
                r["target"] = SAFETY
            if r["ratio"] > r["target"] * (1 + 1e-12):
                flags.append("TARGET")
            if r["policy"] in SHIELDED:
                per = r["allowance_ns"] + (r["decide_ns"] if r["decides"] else 0.0)
                r["bound"] = (bo + bf * per) / bo
                if r["ratio"] > r["bound"] * (1 + 1e-12):
                    flags.append("BOUND")
                if "granted_ns" in r:  # the loss over k = 0 (decisions paid) vs the grants
                    k0 = bo + (bf * r["decide_ns"] if r["decides"] else 0.0)
                    r["loss_ns"] = r["objective"] - k0
                    if r["loss_ns"] > r["granted_ns"] + 1e-9 * bo:
                        flags.append("GRANT")
        if r["seconds"] > SLOW_S:
            flags.append("SLOW")
        if r["rss_mb"] > MEM_MB:
            flags.append("MEM")
        r["flags"] = flags
    return rows


def _task(trace: Trace, costmodel: str, bandit: Path | None, names: Sequence[str]
          ) -> list[dict[str, Any]]:
    return run_one(trace, costmodel, bandit, names)


def audit_rows(traces: Sequence[Trace], costmodels: Sequence[str], bandit: Path | None,
               jobs: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Every (trace, cost model)'s rows, judged, in trace then cost model order."""
    from tqdm import tqdm

    names = [*POLICIES[:4], *(["bandit"] if bandit else []), *POLICIES[4:]]
    tasks = [(t, cm) for t in traces for cm in costmodels]
    done: dict[tuple[str, str], list[dict[str, Any]]] = {}
    bar = tqdm(total=len(tasks), desc="corners", disable=not progress, leave=False)
    if jobs <= 1:
        for t, cm in tasks:
            done[(t.name, cm)] = run_one(t, cm, bandit, names)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            futs = {ex.submit(_task, t, cm, bandit, names): (t.name, cm) for t, cm in tasks}
            for f in as_completed(futs):
                done[futs[f]] = f.result()
                bar.update()
    bar.close()
    return judge([r for t, cm in tasks for r in done[(t.name, cm)]])


# --- the report ----------------------------------------------------------------------------


def report(rows: Sequence[dict[str, Any]], costmodels: Sequence[str]) -> str:
    """Per cost model a table (a row per trace: objective / baseline and wasted / precopied
    per policy, flags marked), then the worst ratio per policy and cost model, then every
    flag and the slowest runs."""
    pols = list(dict.fromkeys(r["policy"] for r in rows))
    by = {(r["trace"], r["costmodel"], r["policy"]): r for r in rows}
    traces = list(dict.fromkeys(r["trace"] for r in rows))
    lines: list[str] = []
    for cm in costmodels:
        lines += [f"## {cm}: objective / baseline, wasted/precopied pages (`!` = over the "
                  "target, `B` = over the budget's bound, `E` = error)", "",
                  "| trace | pages | writes | base faults | safe ceiling | " + " | ".join(
                      p for p in pols if p != "baseline") + " |",
                  "|---|---|---|---|---|" + "---|" * (len(pols) - 1)]
        for t in traces:
            b = by.get((t, cm, "baseline"))
            if b is None:
                continue
            cells = []
            for p in pols:
                r = by.get((t, cm, p))
                if p == "baseline" or r is None:
                    continue
                if "error" in r:
                    cells.append("E")
                    continue
                mark = ("!" if "TARGET" in r["flags"] else "") + (
                    "B" if "BOUND" in r["flags"] else "")
                cells.append(f"{r['ratio']:.4f}{mark} {r['wasted']}/{r['precopied']}"
                             if r["precopied"] >= 0 else f"{r['ratio']:.4f}{mark}")
            ceil = f"{b['ceiling']:.4f}" if "ceiling" in b else "E"
            lines.append(f"| {t} | {b['n_pages']} | {b['writes']} | "
                         f"{b.get('faults', 'E')} | {ceil} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## worst objective / baseline per policy and cost model (trace)", "",
              "| policy | " + " | ".join(costmodels) + " |", "|---|" + "---|" * len(costmodels)]
    for p in pols:
        cells = []
        for cm in costmodels:
            rr = [r for r in rows if r["policy"] == p and r["costmodel"] == cm and "ratio" in r]
            if not rr:
                cells.append("-")
                continue
            w = max(rr, key=lambda r: r["ratio"])
            over = sum("TARGET" in r["flags"] for r in rr)
            cells.append(f"{w['ratio']:.4f} ({w['trace']}; {over}/{len(rr)} over target)")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "## the budget's bound reached: largest loss over k = 0 / allowances "
              "granted (trace; loss > 0 only)", "",
              "| policy | " + " | ".join(costmodels) + " |", "|---|" + "---|" * len(costmodels)]
    for p in pols:
        if p not in SHIELDED:
            continue
        cells = []
        for cm in costmodels:
            rr = [r for r in rows if r["policy"] == p and r["costmodel"] == cm
                  and r.get("granted_ns", 0) > 0 and r["loss_ns"] > 0]
            if not rr:
                cells.append("none (no run lost over k = 0)")
                continue
            w = max(rr, key=lambda r: r["loss_ns"] / r["granted_ns"])
            cells.append(f"{w['loss_ns'] / w['granted_ns']:.3f} ({w['trace']}; "
                         f"{len(rr)} runs lost)")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    flagged = [r for r in rows if r["flags"]]
    lines += ["", f"## flags ({len(flagged)} rows)", ""]
    for r in flagged:
        what = (r.get("error") or f"{r['ratio']:.4f} x baseline (target {r['target']:.4f}"
                + (f", bound {r['bound']:.4f}" if "bound" in r else "") + ")")
        ctx = "" if r["policy"] in SHIELDED else " (not shielded: context)"
        lines.append(f"- {','.join(r['flags'])} {r['costmodel']} {r['policy']}{ctx} "
                     f"{r['trace']}: {what}, {r['seconds']:.1f} s, {r['rss_mb']:.0f} MB")
    if not flagged:
        lines.append("none")
    slow = sorted(rows, key=lambda r: -r["seconds"])[:5]
    lines += ["", "## slowest runs", ""]
    lines += [f"- {r['seconds']:.1f} s {r['costmodel']} {r['policy']} {r['trace']} "
              f"({r['n_pages']} pages, {r['writes']} writes)" for r in slow]
    total = sum(r["seconds"] for r in rows)
    peak = max(r["rss_mb"] for r in rows)
    lines += ["", f"runs {len(rows)}, simulated {total:.1f} s in all, peak RSS {peak:.0f} MB"]
    return "\n".join(lines)


def bandit_path(given: Path | None) -> Path | None:
    """``--bandit-checkpoint`` checked: a directory with ``policy.json`` or the file."""
    if given is None:
        return None
    p = given / "policy.json" if given.is_dir() else given
    if not p.is_file():
        raise ConfigError(f"--bandit-checkpoint: no policy.json at {given}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="the CI-sized subset (SMALL)")
    ap.add_argument("--corners", default=None, help="comma list of corner names")
    ap.add_argument("--costmodels", default="seed_table1,host,tcg")
    ap.add_argument("--bandit-checkpoint", type=Path, default=None,
                    help="the default bandit: train.py policy=bandit out=DIR (DIR or its "
                         "policy.json); left out without it")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (1 or 2)")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the traces as DIR/<name>.npy and evaluate the files as "
                         "loaded; rows.json and report.md there too")
    ap.add_argument("--json", type=Path, default=None, help="write every row here")
    ap.add_argument("--list", action="store_true", help="list the corners and stop")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if not 1 <= args.jobs <= 2:
        raise ConfigError("--jobs: 1 or 2 (two cores are shared)")
    costmodels = [c for c in args.costmodels.split(",") if c]
    from cowrl.registry import make_costmodel

    for cm in costmodels:
        make_costmodel(cm)  # a bad name: its one-line error before any work
    corners = select(args.corners, args.small)
    if args.list:
        for c in corners:
            print(f"{c.name:24s} {c.group:8s} {c.what}")
        return 0
    bandit = bandit_path(args.bandit_checkpoint)
    traces = [build(c) for c in corners]
    if args.out is not None:
        from cowrl.traces.io import load_trace

        args.out.mkdir(parents=True, exist_ok=True)
        loaded = []
        for t in traces:
            path = args.out / f"{t.name}.npy"
            np.save(path, t.pages)
            lt = load_trace(path)
            assert lt.n_pages == t.n_pages and np.array_equal(lt.pages, t.pages), t.name
            lt.meta.update(t.meta)
            loaded.append(lt)
        traces = loaded
    t0 = time.perf_counter()
    rows = audit_rows(traces, costmodels, bandit, jobs=args.jobs,
                      progress=not args.no_progress)
    text = report(rows, costmodels)
    print(text)
    print(f"wall {time.perf_counter() - t0:.1f} s", flush=True)
    for path in [args.json, args.out / "rows.json" if args.out else None]:
        if path is not None:
            path.write_text(json.dumps(rows, default=float, indent=1))
    if args.out is not None:
        (args.out / "report.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
