"""``guarded``'s ``last_look`` (a simulator study, session 43, docs/results/last-look-s43.md): a
live ring entry about to be overwritten is read once first; written, it is proven as a look's
read proves it, else the read is charged as an unproven proof read. The compiled program
decides as the prototype; the loss stays within the allowances; the engine charges the
unproven last looks; off (the default) leaves the program as it was; the module's table
export and the kernel target refuse it."""

from __future__ import annotations

import numpy as np
import pytest
from test_guarded_program import (
    _compiled_equals_and_option_matters,
    _compiled_equals_prototype,
)
from test_guarded_proof import _bound_traces, _excess

from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


def _shield(cm: str = "seed_table1", **kw: int) -> GuardedPolicy:
    return GuardedPolicy.for_cost(make_costmodel(cm), table=[64] * N_CELLS,
                                  **{**shipped_options("guarded"), **kw})


def _columns(n_rows: int = 64, n_cols: int = 64, passes: int = 1) -> Trace:
    """A row-major buffer written column by column: each column's pages lie ``n_cols`` apart,
    a window at a page copies the rest of its row, written only at the next columns' passes:
    late proofs, many entries overwritten after their copy was written."""
    pages = np.array([r * n_cols + c for _ in range(passes) for c in range(n_cols)
                      for r in range(n_rows)], dtype=np.int64)
    return Trace(pages=pages, n_pages=n_rows * n_cols, name=f"columns{n_rows}x{n_cols}")


def _dev_shapes() -> list[Trace]:
    """A few development shapes (test seeds 2000+) where the ring wraps."""
    return [g.sequential(n_pages=8192), _columns(),
            *(g.randomized(seed=2000 + d, draw=0, families=fam)
              for fam, d in (("tiled2d", 0), ("stride", 1), ("phases", 0), ("mixture", 2),
                             ("interleaved", 0)))]


def test_it_proves_entries_the_ring_would_overwrite_written() -> None:
    """On the column sweep (one region, one process) entries are overwritten after their copy
    was written (the rest of a row is written at the next columns' passes): the last look
    proves some; every entry still overwritten unproven had an unproven last look (none is of
    another region or process here), and more copies are proven than without it."""
    t = _columns()
    cost = make_costmodel("seed_table1")
    off, on = _shield(), _shield(last_look=1)
    simulate(t, off, cost, fast=False)
    simulate(t, on, cost, fast=False)
    assert off.ctx.overwritten > 0 and off.ctx.last_proven == off.ctx.last_unproven == 0
    assert on.ctx.last_proven > 0
    assert on.ctx.overwritten == on.ctx.last_unproven
    assert on.ctx.proven > off.ctx.proven


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_the_engine_charges_unproven_last_looks(cm: str) -> None:
    """1,000 pages 128 apart, each written once in random order, a table of 64s and an
    allowance that fits every window: no copied page is ever written, so every last look is
    unproven and changes no decision (floor 0: the sentinels, never hit, do not hold
    k = 0); on and off decide alike and the run with it costs
    exactly ``proof_read_ns`` per last look more, prototype and compiled alike."""
    pages = 128 * np.random.default_rng(5).permutation(1000).astype(np.int64)
    t = Trace(pages=pages, n_pages=128 * 1000, name="apart128")
    cost = make_costmodel(cm)
    kw = {"budget_per_mille": 10 ** 7, "grant_left": 0, "floor": 0}
    on, off = _shield(cm, last_look=1, **kw), _shield(cm, **kw)
    r_on = simulate(t, on, cost, fast=False)
    r_off = simulate(t, off, cost, fast=False)
    assert on.ctx.last_proven == 0 and on.ctx.last_unproven > 60000
    assert (r_on.precopied, r_on.wasted) == (r_off.precopied, r_off.wasted) \
        and r_on.precopied == r_on.wasted > 0
    extra = float(np.sum(r_on.fault_ns) - np.sum(r_off.fault_ns))
    assert extra == pytest.approx(on.ctx.last_unproven * cost.proof_read_ns, rel=1e-9)
    fast = simulate(t, _shield(cm, last_look=1, **kw), cost, fast=True)
    assert np.allclose(fast.fault_ns, r_on.fault_ns)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_compiled_decides_as_the_prototype_on_development_shapes(cm: str) -> None:
    """Fault for fault, the prototype and the compiled program with last_look 1 (shield64 as
    the study runs it, and the shipped table), on development shapes where the ring wraps;
    and the option changes some decision there."""
    from cowrl.policies.guarded import make_guarded

    cost = make_costmodel(cm)
    differ = 0
    for on, off in ((_shield(cm, last_look=1), _shield(cm)),
                    (make_guarded(table="guarded", costmodel=cm, last_look=1,
                                  **shipped_options("guarded")),
                     make_guarded(table="guarded", costmodel=cm,
                                  **shipped_options("guarded")))):
        for t in _dev_shapes():
            _, ev = _compiled_equals_prototype(t, on, cost)
            _, ev0 = simulate(t, off, cost, record_events=True, fast=True)
            differ += not np.array_equal(ev.k, ev0.k)
    assert differ > 0


def _policies() -> list[GuardedPolicy]:
    cost = make_costmodel("host")
    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                            size=N_CELLS)]
    return [
        _shield("host", last_look=1),
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, last_look=1,
                               **shipped_options("guarded_adjacent")),
        # loose budgets: a random table with proofs (ttl 3: expiry), use_proof, a skip price
        GuardedPolicy(table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900,
                      grant_left=0, proof=1, proof_reads=2, proof_ttl=3, use_proof=1,
                      read_credit=1, read_ns=700, last_look=1),
        GuardedPolicy(table=rand, budget_per_mille=300, skip_ns=300, setup_ns=900,
                      grant_left=1, scan=8, merge=True, protect=True, slots=2, near=5,
                      proof=1, proof_reads=1, proof_backoff=1, last_look=1)]


@pytest.mark.parametrize("pi", range(4))
def test_compiled_decides_as_the_prototype(pi: int) -> None:
    """On every trace of test_guarded_program (multi-region, pools at recorded addresses),
    fault for fault, and the option changes decisions somewhere."""
    _compiled_equals_and_option_matters(_policies()[pi], last_look=0)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_the_loss_stays_within_the_allowances(cm: str) -> None:
    """The bound (test_guarded_proof's): the loss over k = 0 stays within the allowances
    granted with last_look 1, tables of 64s and of 1s, the shipped proof options and misses
    by expiry (ttl 3, 1)."""
    for t in [*_bound_traces(), _columns()]:
        for k in (64, 1):
            for opts in ({"proof_ttl": 16, "proof_backoff": 1, "read_credit": 1,
                          "proof_look": 1, "proof_span": 1},
                         {"proof_ttl": 3, "grant_left": 0},
                         {"proof_ttl": 1, "read_credit": 1, "proof_reads": 1}):
                excess, granted = _excess(t, [k] * N_CELLS, cm, proof=1, last_look=1, **opts)
                assert excess <= granted + t.n_pages, (t.name, k, opts)


@pytest.mark.parametrize(("kw", "field"), [
    ({"last_look": 2, "proof": 1}, "policy.last_look must be"),
    ({"last_look": True, "proof": 1}, "policy.last_look must be"),
    ({"last_look": 0.5, "proof": 1}, "policy.last_look must be"),
    ({"last_look": 1}, "policy.last_look: 1 needs proof"),
])
def test_bad_values_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        GuardedPolicy(**kw)


def test_the_writer_script_runs_and_refuses_bad_sizes() -> None:
    """experiments/last_look_writer.py (the doc's long-writer figures) on a short writer, and a
    one-line error for a bad size."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = str(root / "experiments" / "last_look_writer.py")
    out = subprocess.run([sys.executable, script, "--costmodels", "host", "--pages", "512"],
                         cwd=root, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("last look proved") == 4
    out = subprocess.run([sys.executable, script, "--pages", "8"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --pages: at least 64, got 8"], out.stderr
