"""The one metrics schema: summarize() on hand-made RunRecords."""

from __future__ import annotations

import numpy as np
import pytest

from cowrl.metrics import FIELDS, RunRecord, geomean, geomean_gain, summarize, write_quantiles


def rec(fault_ns, writes: int, nonfault: float = 5.0, write_ns=None, **kw) -> RunRecord:
    f = np.asarray(fault_ns, dtype=np.float64)
    base = dict(policy="p", workload="w", target="sim", n_pages=100, writes=writes,
                faults=f.size, precopied=7, wasted=3, fault_ns=f, write_ns=write_ns,
                nonfault_write_ns=nonfault)
    base.update(kw)
    return RunRecord(**base)


def materialise(r: RunRecord) -> np.ndarray:
    return np.concatenate([r.fault_ns, np.full(r.writes - r.faults, r.nonfault_write_ns)])


def test_row_has_every_field_and_the_objective_formula() -> None:
    r = rec([100.0, 300.0, 200.0], writes=10, extra={"oracle_choice": "precopy4"})
    row = summarize(r, lam=0.25, page_cost_ns=40.0)
    assert set(FIELDS) <= row.keys() and row["oracle_choice"] == "precopy4"
    assert row["cow_ns"] == 600.0
    assert row["objective"] == 600.0 + 0.25 * 3 * 40.0
    assert (row["lambda"], row["page_cost_ns"]) == (0.25, 40.0)
    assert (row["fault_avg_ns"], row["fault_min_ns"], row["fault_max_ns"]) == (200.0, 100.0, 300.0)
    assert row["fault_p99_ns"] == 300.0
    assert (row["write_p50_ns"], row["write_p99_ns"], row["write_max_ns"]) == (5.0, 300.0, 300.0)
    assert (row["writes"], row["faults"], row["precopied"], row["wasted"]) == (10, 3, 7, 3)


QS = (0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_mixture_quantiles_equal_np_quantile_on_materialised_writes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(150):
        writes = int(rng.integers(1, 400))
        faults = int(rng.integers(0, writes + 1))
        # values below, equal to and above the non-fault write cost, with ties
        f = rng.choice([1.0, 5.0, 9.0, 20.0, 1000.0], size=faults) * rng.choice([1, 1, 1.5],
                                                                                size=faults)
        r = rec(f, writes=writes, nonfault=5.0)
        full = materialise(r)
        want = [float(np.quantile(full, q, method="inverted_cdf")) for q in QS]
        assert write_quantiles(r, QS) == want
        # kernel-style records carry every write's latency
        rk = rec(f, writes=writes, write_ns=rng.permutation(full))
        assert write_quantiles(rk, QS) == want


def test_no_fault_run() -> None:
    row = summarize(rec([], writes=4), lam=1.0, page_cost_ns=10.0)
    assert row["cow_ns"] == 0.0 and row["fault_avg_ns"] == 0.0 and row["write_max_ns"] == 5.0
    assert row["objective"] == 30.0


def test_write_quantiles_and_distribution_equal_a_full_sort() -> None:
    from cowrl.metrics import latency_distribution

    rng = np.random.default_rng(3)
    for n_faults, writes, const in ((50, 400, 3.0), (9000, 20000, 250.0), (7000, 7000, 0.0)):
        f = rng.lognormal(5.0, 1.0, n_faults)
        r = rec(f.tolist(), writes=writes)
        r.nonfault_write_ns = const
        every = np.sort(np.concatenate([f, np.full(writes - n_faults, const)]))
        for q, got in zip((0.5, 0.99, 1.0), write_quantiles(r), strict=True):
            rank = min(every.size - 1, max(0, int(np.ceil(q * every.size)) - 1))
            assert got == every[rank]
        x, c = latency_distribution(r)
        assert c.sum() == writes and np.all(np.diff(x) > 0)
        assert x[-1] == every[-1] and x.size <= 2049
        if writes <= 2048 + n_faults and n_faults <= 2048:  # exact: every distinct value
            assert np.array_equal(np.repeat(x, c), every)
        else:  # binned: the CDF is exact at each bin's upper edge (every x but the constant)
            cdf = np.cumsum(c)
            edge = x != const
            assert np.array_equal(cdf[edge], np.searchsorted(every, x[edge], side="right"))


def test_geomean_and_the_gain_by_hand() -> None:
    """The one geometric mean every table and target reads: sqrt(1 x 4) = 2, (2 x 4 x 8)^(1/3)
    = 4; a zero is floored (no -inf); the gain over baseline of ratios 0.25 and 1 is
    1 - sqrt(0.25) = 50%, of 0.5 and 2 nothing, of no ratios 0."""
    assert geomean([1.0, 4.0]) == pytest.approx(2.0) and geomean([2, 4, 8]) == pytest.approx(4.0)
    assert geomean([0.0, 1.0]) == pytest.approx(1e-150)
    assert geomean_gain([0.25, 1.0]) == pytest.approx(50.0)
    assert geomean_gain([0.5, 2.0]) == pytest.approx(0.0, abs=1e-12)
    assert geomean_gain([]) == 0.0
