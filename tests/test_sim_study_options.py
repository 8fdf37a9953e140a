"""The simulator-study options (``programs.SIM_STUDY_OPTIONS``): each is carried by the
compiled program, refused by the module's table and the kernel target (an inert policy's
too), and kept by a policy artifact. One test for all of them, so that an option added to
the tuple without a value here fails."""

from __future__ import annotations

from dataclasses import replace

import pytest

import cowrl.sim.programs as P
from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.registry import make_costmodel

# option -> (a value that turns it on, its cell in the compiled program's table)
ON = {"group_below": (4, P.C_BELOW), "run_cap": (1, P.C_RUNCAP),
      "depth_cap": (1, P.C_DEPTHCAP), "last_look": (1, P.C_LASTLOOK),
      "region_look": (1, P.C_REGIONLOOK)}
# options that options() lists even when off (the others appear there only when set)
LISTED_WHEN_OFF = {"group_below"}


def test_every_study_option_is_covered() -> None:
    assert sorted(ON) == sorted(P.SIM_STUDY_OPTIONS)


@pytest.mark.parametrize("name", P.SIM_STUDY_OPTIONS)
def test_compiled_in_the_simulator_refused_by_the_module(name: str) -> None:
    """``replay_program`` carries the option (the compiled simulator form); the kernel
    target's ``kernel_program`` and the module table's packing refuse it, naming the field,
    an inert policy (tcg: k = 0 everywhere) too."""
    from cowrl.kernel.table import pack_guarded

    value, cell = ON[name]
    pol = GuardedPolicy.for_cost(make_costmodel("host"), table=[64] * N_CELLS,
                                 **{**shipped_options("guarded"), name: value})
    prog = pol.replay_program()
    assert prog is not None and prog.table[name] == value
    assert P.program_args(prog)[2][cell] == value
    with pytest.raises(ConfigError, match=f"policy.{name}"):
        pol.kernel_program()
    with pytest.raises(ValueError, match=name):
        pack_guarded(prog)
    pack_guarded(replace(prog, table={**prog.table, name: 0}))  # the rest packs
    inert = GuardedPolicy.for_cost(make_costmodel("tcg"), table=[64] * N_CELLS,
                                   **{**shipped_options("guarded"), name: value})
    assert inert.inert and inert.replay_program().mode == "static"
    with pytest.raises(ConfigError, match=f"policy.{name}"):
        inert.kernel_program()


@pytest.mark.parametrize("name", P.SIM_STUDY_OPTIONS)
def test_artifact_keeps_it(name: str) -> None:
    """A policy artifact keeps the option; one without it (a policy that never set it, or
    an artifact written before the option existed) loads it as 0."""
    value, _ = ON[name]
    pol = GuardedPolicy(table=[64] * N_CELLS, proof=1, proof_ttl=16, **{name: value})
    assert getattr(GuardedPolicy.from_artifact(pol.artifact_spec(), "b", None), name) == value
    off = GuardedPolicy(table=[64] * N_CELLS)
    assert getattr(GuardedPolicy.from_artifact(off.artifact_spec(), "o", None), name) == 0
    old = {k: v for k, v in pol.artifact_spec().items() if k != name}
    assert getattr(GuardedPolicy.from_artifact(old, "o", None), name) == 0


@pytest.mark.parametrize("name", P.SIM_STUDY_OPTIONS)
def test_off_is_the_program_as_before(name: str) -> None:
    """Off (0, the default) the option adds nothing to the program (or to the options, where
    only a set option is listed), its compiled cell says 0, and the shipped options do not
    set it."""
    _, cell = ON[name]
    assert name not in shipped_options("guarded")
    assert name not in shipped_options("shield64")
    pol = GuardedPolicy.for_cost(make_costmodel("host"), table=[64] * N_CELLS,
                                 **shipped_options("guarded"))
    assert getattr(pol, name) == 0
    if name in LISTED_WHEN_OFF:
        assert pol.options()[name] == 0
    else:
        assert name not in pol.options()
    prog = pol.kernel_program()
    assert name not in prog.table
    assert pol.replay_program() == prog
    assert P.program_args(prog)[2][cell] == 0
