"""Compiled inner loops of the precopy environments (numba, ``cache=True``).

The single env applies demand faults with the simulator's own
:class:`~cowrl.sim.simulator.PageState` and uses only the scans below. The
batched env runs :func:`vec_step`, which repeats ``PageState.demand`` and
``FaultHistory.update`` line for line; ``tests/test_env.py`` checks that the
two envs give identical trajectories and that both match ``simulate``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from cowrl.policies.features import HIT_RATE_ONE
from cowrl.sim.costmodel import HUGE_PAGES

# Columns of the batched env's int64 state matrix (one row per sub-env).
POS, PAGE, PREV_PAGE, PREV_K, PREV_A, RUN, HIT, NPRIV, FAULTS, PRECOPIED, WASTED, \
    NPAGES, WRITES, POFF, SOFF, HOFF, ZOFF = range(17)
N_STATE = 17


@njit(cache=True, nogil=True)
def next_fault(pages: np.ndarray, private: np.ndarray, start: int) -> int:
    """Index of the first write at or after ``start`` to a shared page (``len(pages)`` if none)."""
    n = pages.shape[0]
    i = start
    while i < n and private[pages[i]]:
        i += 1
    return i


@njit(cache=True, nogil=True)
def count_unwritten_private(private: np.ndarray, written: np.ndarray, lo: int, hi: int) -> int:
    """Private pages in ``[lo, hi)`` that the trace never writes."""
    c = 0
    for j in range(lo, hi):
        if private[j] and not written[j]:
            c += 1
    return c


@njit(cache=True, nogil=True)
def features(row: np.ndarray, page: int, n_pages: int, prev_page: int, prev_k: int,
             private_pages: int, run: int, hit_fp: int) -> tuple[int, int]:
    """``FaultHistory.update`` in numba: fill ``row[:7]``, return the new (run, hit_fp)."""
    seq_hit = 1 if (prev_page >= 0 and page == prev_page + prev_k + 1) else 0
    run = run + 1 if seq_hit else 0
    hit_fp += (seq_hit * HIT_RATE_ONE - hit_fp) >> 3
    n = max(n_pages, 2)
    delta = page - prev_page if prev_page >= 0 else 0
    row[0] = math.copysign(math.log2(float(1 + abs(delta))), float(delta)) / math.log2(float(n))
    row[1] = float(seq_hit)
    row[2] = min(1.0, math.log2(float(1 + run)) / 8.0)
    row[3] = hit_fp / HIT_RATE_ONE
    row[4] = (n_pages - 1 - page) / n
    row[5] = private_pages / n
    row[6] = min(1.0, math.log2(float(1 + prev_k)) / 7.0)
    return run, hit_fp


@njit(cache=True, nogil=True)
def vec_first_obs(i: int, st: np.ndarray, pages: np.ndarray, obs: np.ndarray) -> None:
    """Reset sub-env ``i``'s fault history and observe its first fault (write 0)."""
    st[i, POS] = 0
    st[i, PAGE] = pages[st[i, POFF]]
    st[i, PREV_PAGE] = -1
    st[i, PREV_K] = 0
    st[i, PREV_A] = -1
    st[i, NPRIV] = 0
    st[i, FAULTS] = 0
    st[i, PRECOPIED] = 0
    st[i, WASTED] = 0
    obs[i, :] = 0.0
    run, hit = features(obs[i], st[i, PAGE], st[i, NPAGES], -1, 0, 0, 0, 0)
    st[i, RUN] = run
    st[i, HIT] = hit


@njit(cache=True, nogil=True)
def vec_step(active: np.ndarray, actions: np.ndarray, degrees: np.ndarray, pages: np.ndarray,
             private: np.ndarray, written: np.ndarray, touched: np.ndarray, noise: np.ndarray,
             st: np.ndarray, cow_ns: np.ndarray, thp: bool, extra_private: int, base_ns: float,
             decide_ns: float, setup_ns: float, precopy_ns: float, skip_ns: float,
             thp_extra_ns: float, lam_page_ns: float, demand_ns: float,
             noise_on: bool, max_faults: int, prev_action_obs: bool, obs: np.ndarray,
             reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
             out_page: np.ndarray, out_k: np.ndarray, out_n: np.ndarray, out_wasted: np.ndarray,
             out_h: np.ndarray, out_fault_ns: np.ndarray, out_widx: np.ndarray) -> int:
    """One demand fault for every active sub-env; same semantics as ``PageState.demand``.

    Returns the index of the first active sub-env whose action is out of range
    (nothing is changed then), else ``-1 - (sub-envs whose episode ended)``.
    Outputs of inactive sub-envs are zeroed.
    """
    n_ended = 0
    n_deg = degrees.shape[0]
    for i in range(active.shape[0]):
        if active[i] and (actions[i] < 0 or actions[i] >= n_deg):
            return i
    for i in range(active.shape[0]):
        reward[i] = 0.0
        terminated[i] = False
        truncated[i] = False
        if not active[i]:
            out_page[i] = 0
            out_k[i] = 0
            out_n[i] = 0
            out_wasted[i] = 0
            out_h[i] = 0
            out_fault_ns[i] = 0.0
            out_widx[i] = 0
            continue
        a = actions[i]
        k = degrees[a]
        p = st[i, PAGE]
        n_pages = st[i, NPAGES]
        s = st[i, SOFF]
        # --- PageState.demand(p, k, extra_private) ---
        private[s + p] = 1
        cnt = 0
        waste = 0
        h = 0
        skip = 0
        if thp:
            hp = p // HUGE_PAGES
            if touched[st[i, HOFF] + hp] == 0:
                touched[st[i, HOFF] + hp] = 1
                h = 1
                if extra_private > 0:
                    for j in range(hp * HUGE_PAGES, min(hp * HUGE_PAGES + HUGE_PAGES, n_pages)):
                        if private[s + j] == 0:
                            private[s + j] = 1
                            cnt += 1
                            if written[s + j] == 0:
                                waste += 1
        if k > 0:
            for j in range(p + 1, min(p + k, n_pages - 1) + 1):
                if private[s + j] == 0:
                    private[s + j] = 1
                    cnt += 1
                    if written[s + j] == 0:
                        waste += 1
                else:
                    skip += 1
        # --- cost: CostModel.fault_cost, same operation order ---
        # (decide_ns is ``decided * CostModel.decide_ns``, computed once by the caller)
        f_ns = base_ns + decide_ns + (1 if k > 0 else 0) * setup_ns + cnt * precopy_ns \
            + skip * skip_ns + h * thp_extra_ns
        if noise_on:
            f_ns = f_ns * noise[st[i, ZOFF] + st[i, FAULTS]]
        reward[i] = -(f_ns + lam_page_ns * waste) / demand_ns
        out_page[i] = p
        out_k[i] = k
        out_n[i] = cnt
        out_wasted[i] = waste
        out_h[i] = h
        out_fault_ns[i] = f_ns
        out_widx[i] = st[i, POS]
        st[i, NPRIV] += 1 + cnt
        st[i, FAULTS] += 1
        st[i, PRECOPIED] += cnt
        st[i, WASTED] += waste
        cow_ns[i] += f_ns
        st[i, PREV_PAGE] = p
        st[i, PREV_K] = k
        st[i, PREV_A] = a
        # --- replay up to the next write to a shared page ---
        po = st[i, POFF]
        n_w = st[i, WRITES]
        j = st[i, POS] + 1
        while j < n_w and private[s + pages[po + j]]:
            j += 1
        obs[i, :] = 0.0
        if j >= n_w:
            terminated[i] = True
            st[i, POS] = n_w
            n_ended += 1
            continue
        st[i, POS] = j
        q = pages[po + j]
        st[i, PAGE] = q
        run, hit = features(obs[i], q, n_pages, p, k, st[i, NPRIV], st[i, RUN], st[i, HIT])
        st[i, RUN] = run
        st[i, HIT] = hit
        if prev_action_obs:
            obs[i, 7 + a] = 1.0
        if max_faults > 0 and st[i, FAULTS] >= max_faults:
            truncated[i] = True
            n_ended += 1
    return -1 - n_ended
