"""The experiments scripts' traces: development draws, or the held-out ones for evaluation only.

The project is judged on traces it never sees, so development work (choosing or tuning a
rule, an option, a threshold) draws seeds 2000+: ``randomized(first + i, 0, families=F)``,
as experiments/ramp_proposer.py. The generalization protocol's held-out test traces
(:func:`cowrl.generalization.test_traces`, seeds 100000+) are drawn only behind a script's
``--heldout-eval``, for an evaluation-only report.

A script adds ``--first`` and ``--heldout-eval`` with :func:`add_draw_arguments`, checks
``--first`` with :func:`check_first` and draws with :func:`family_draws` or
:func:`draw_groups`, passing the parsed flag itself (``heldout_eval=args.heldout_eval``):
tests/test_draw_hygiene.py fails an experiments script that passes anything else or draws the
held-out traces any other way outside its allow-list.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cowrl.errors import ConfigError
from cowrl.traces.io import Trace

DEV_FIRST = 2000
"""The first development seed: development draws are seeds 2000+."""


def add_draw_arguments(ap: argparse.ArgumentParser, *, first: int | None = DEV_FIRST,
                       heldout: bool = True, scope: str = "", never: str = "anything",
                       first_note: str = "") -> None:
    """Add ``--first`` (default ``first``; ``None``: the script picks one per command, said
    in ``first_note``) and, with ``heldout``, ``--heldout-eval`` (``args.heldout_eval``) to
    ``ap``. ``scope``: the mode they apply to (``"--random-fills"``), named in the help;
    ``never``: what ``--heldout-eval`` must never be used to choose or tune."""
    note = f"; {first_note}" if first_note else ""
    ap.add_argument("--first", type=int, default=first,
                    help=f"{scope + ': ' if scope else ''}first development seed (2000+): "
                         f"randomized(first + i, 0, families=F){note}")
    if heldout:
        ap.add_argument("--heldout-eval", action="store_true",
                        help=f"{scope + ', ' if scope else ''}evaluation only: the protocol's "
                             "held-out test traces (seeds 100000+) instead of development "
                             f"draws; never to choose or tune {never}")


def check_first(first: int) -> int:
    """``first`` if it is a development seed (2000+), else a one-line ConfigError naming
    ``--first`` (also with ``--heldout-eval``, which does not read it)."""
    if first < DEV_FIRST:
        raise ConfigError(f"--first: development draws are seeds {DEV_FIRST}+")
    return first


def check_draws(draws: int | None, field: str = "--draws") -> int | None:
    """``draws`` if it is a count of draws (at least 1; ``None``: the script's default), else a
    one-line ConfigError naming ``field`` (0 or fewer draws leave nothing to measure: the
    scripts' geometric means and worst draws fail on an empty list)."""
    if draws is not None and (isinstance(draws, bool) or draws < 1):
        raise ConfigError(f"{field}: must be at least 1, got {draws}")
    return draws


def development_draws(family: str, draws: int, first: int = DEV_FIRST, named: bool = True
                      ) -> list[Trace]:
    """``draws`` development draws of ``family``: ``randomized(first + i, 0, families=family)``
    for ``i < draws``, named ``<family>_<seed>`` (``named=False``: randomized's default name
    ``rand0``, as the scripts that predate ``--first`` print them)."""
    from cowrl.traces.generators import randomized

    check_first(first)
    return [randomized(first + i, 0, families=family,
                       name=f"{family}_{first + i}" if named else None) for i in range(draws)]


def family_draws(family: str, draws: int, first: int = DEV_FIRST, heldout_eval: bool = False
                 ) -> list[Trace]:
    """:func:`development_draws` of ``family`` (named ``<family>_<seed>``); with
    ``heldout_eval`` the protocol's ``draws`` held-out test traces of ``family`` instead
    (``test_traces``, named ``<family>_<i>``; evaluation only). ``first`` is checked either
    way."""
    check_first(first)
    if heldout_eval:
        from cowrl.generalization import test_traces

        return test_traces(family, draws, None, None)
    return development_draws(family, draws, first)


def draw_groups(families: Sequence[str], draws: int, first: int = DEV_FIRST,
                heldout_eval: bool = False) -> dict[str, list[Trace]]:
    """:func:`family_draws` per family: ``{family: its draws}``, in ``families``' order."""
    check_first(first)
    return {f: family_draws(f, draws, first, heldout_eval) for f in families}
