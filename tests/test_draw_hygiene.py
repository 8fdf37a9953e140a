"""Development tools never draw the generalization protocol's held-out test traces.

The protocol (cowrl/generalization.py, issue #10) tests each held-out family on
``test_traces`` (``family_trace(F, seed=100_000 + i)``); ``run_job`` and ``add_ceilings``
draw them again. Development work draws seeds 2000+ (``randomized(2000 + i, 0,
families=F)``, as experiments/ramp_proposer.py), so that nothing is tuned on what the
protocol judges. This test reads every experiments/*.py (its code, not its docstrings) and
fails for a file that names one of those functions or adds the held-out seed base, unless
the file is in ``ALLOWED`` below with its reason. A ``GATED`` entry may draw them only under
a condition or in a function named for a held-out mode (``--heldout-eval``, ``--heldout``),
never by default.

cowrl/devdraws.py draws them for a script (``family_draws`` / ``draw_groups`` with
``heldout_eval``): such a call counts as a held-out draw unless its ``heldout_eval`` is left
out or ``False``, and it is gated only when what it passes is the held-out flag itself
(``heldout_eval=args.heldout_eval``), not an expression (``not args.heldout_eval``) nor a
constant; passing the helper on (``partial(family_draws, ...)``, ``getattr``) or setting a
held-out-named value to ``True`` counts as an ungated draw.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_experiment

from cowrl import devdraws
from cowrl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"

HELDOUT_NAMES = frozenset({"test_traces", "family_trace", "add_ceilings", "run_job"})
"""What draws the held-out test traces (cowrl.generalization, cowrl.traces.generators)."""
HELDOUT_SEED = 100_000
"""The held-out draws' seed base (``family_trace(F, seed=100_000 + i)``)."""
HELDOUT_HELPERS: dict[str, int] = {
    name: list(inspect.signature(getattr(devdraws, name)).parameters).index("heldout_eval")
    for name in ("family_draws", "draw_groups")}
"""cowrl.devdraws' functions that draw the held-out traces given ``heldout_eval``: name ->
the position of that argument."""

EVALUATION = "evaluation"  # the script's purpose is measuring held-out sets: every use allowed
GATED = "gated"  # a development tool: held-out draws only behind a held-out-named condition

ALLOWED: dict[str, tuple[str, str, frozenset[str]]] = {
    # file: (kind, reason, names it may use outside a held-out-named condition)
    "generalization.py": (EVALUATION, "the protocol itself: run_job trains without each "
                          "held-out set and tests on its held-out traces", HELDOUT_NAMES),
    "generalization_study.py": (EVALUATION, "design study of trained policies on validation "
                                "and fresh family draws; trains on neither", HELDOUT_NAMES),
    "guarded_lofo.py": (EVALUATION, "leave-one-out evaluation: learns without each held-out "
                        "set, measures on it", HELDOUT_NAMES),
    "heldout_option_replay.py": (EVALUATION, "replays a sweep's held-out traces with an "
                                 "option changed; never a basis for choosing", HELDOUT_NAMES),
    "safe_ceiling.py": (GATED, "--jobs adds ceilings to copies of a sweep's held-out results "
                        "(add_ceilings); --random-fills draws development seeds unless "
                        "--heldout-eval", frozenset({"add_ceilings"})),
    "stride_window.py": (GATED, "development draws; --heldout evaluates the held-out sets, "
                         "nothing chosen on them", frozenset()),
    "guarded_waste.py": (GATED, "development draws; --heldout diagnoses the jobs' own held-out "
                         "traces, nothing chosen there", frozenset()),
    "guarded_diagnosis.py": (GATED, "development draws; --heldout-eval for evaluation-only "
                             "reports", frozenset()),
    "guarded_options.py": (GATED, "development draws; --heldout-eval for evaluation-only "
                           "reports", frozenset()),
    "shield_proof.py": (GATED, "development draws; --heldout-eval for evaluation-only reports",
                        frozenset()),
    "apps_signals.py": (GATED, "development draws; --heldout-eval for evaluation-only reports",
                        frozenset()),
}


def _mentions_heldout(node: ast.AST) -> bool:
    return any(_is_flag(n) for n in ast.walk(node))


def _is_flag(node: ast.AST) -> bool:
    """A held-out-named value itself (``heldout_eval``, ``args.heldout_eval``)."""
    return ((isinstance(node, ast.Name) and "heldout" in node.id)
            or (isinstance(node, ast.Attribute) and "heldout" in node.attr))


def _helper_name(node: ast.AST, aliases: dict[str, str], modules: set[str]) -> str | None:
    """The cowrl.devdraws helper ``node`` names (imported, under its name or another, or as
    an attribute of the module imported), else None."""
    if isinstance(node, ast.Name) and node.id in aliases:
        return aliases[node.id]
    if (isinstance(node, ast.Attribute) and node.attr in HELDOUT_HELPERS
            and ast.unparse(node.value) in modules):
        return node.attr
    return None


def _heldout_args(call: ast.Call, helper: str) -> list[ast.AST]:
    """What ``call`` passes as ``heldout_eval`` (``*args`` / ``**kwargs`` included)."""
    pos = HELDOUT_HELPERS[helper]
    got: list[ast.AST] = [k.value for k in call.keywords
                          if k.arg in ("heldout_eval", None)]
    got += [a for i, a in enumerate(call.args) if i == pos or isinstance(a, ast.Starred)]
    return got


def _sets_flag_true(node: ast.AST) -> bool:
    """``heldout... = <truthy constant>`` (assignment or a parameter's default)."""
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return (isinstance(node.value, ast.Constant) and bool(node.value.value)
                and any(_is_flag(t) for t in targets))
    if isinstance(node, ast.arguments):
        pos = [*node.posonlyargs, *node.args]
        pairs = [*zip(pos[len(pos) - len(node.defaults):], node.defaults, strict=True),
                 *((a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True)
                   if d is not None)]
        return any("heldout" in a.arg and isinstance(d, ast.Constant) and bool(d.value)
                   for a, d in pairs)
    return False


def heldout_uses(source: str) -> list[tuple[int, str, bool]]:
    """``(line, what, gated)`` for each use of the held-out draws in ``source``'s code:
    a name in ``HELDOUT_NAMES`` (name, attribute, import or string) or the seed base added
    or passed as ``seed=``. ``gated``: under an ``if`` / conditional expression testing a
    held-out-named value, or inside a function named for it. Imports count as gated (they
    draw nothing); docstrings are not code."""
    uses: list[tuple[int, str, bool]] = []
    tree = ast.parse(source)
    aliases = {h: h for h in HELDOUT_HELPERS}
    modules = {"cowrl.devdraws"}
    for node in ast.walk(tree):  # ``from cowrl.devdraws import family_draws as fd``, ...
        if isinstance(node, ast.ImportFrom):
            aliases.update({a.asname or a.name: a.name for a in node.names
                            if a.name in HELDOUT_HELPERS})
            modules.update(a.asname or a.name for a in node.names if a.name == "devdraws")
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names
                           if a.name == "cowrl.devdraws")

    def visit(node: ast.AST, gated: bool) -> None:
        what = None
        if isinstance(node, ast.Call) and (helper := _helper_name(node.func, aliases, modules)):
            passed = [a for a in _heldout_args(node, helper)
                      if not (isinstance(a, ast.Constant) and a.value is False)]
            if passed:  # the helper draws the held-out traces when this is true
                uses.append((node.lineno, f"{helper}(heldout_eval=...)",
                             gated or all(_is_flag(a) for a in passed)))
            for child in [*node.args, *node.keywords]:
                visit(child, gated)
            if isinstance(node.func, ast.Attribute):
                visit(node.func.value, gated)
            return
        if isinstance(node, ast.Name) and node.id in HELDOUT_NAMES:
            what = node.id
        elif isinstance(node, ast.Attribute) and node.attr in HELDOUT_NAMES:
            what = node.attr
        elif isinstance(node, ast.ImportFrom) and any(a.name in HELDOUT_NAMES
                                                      for a in node.names):
            uses.append((node.lineno, "import", True))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value in HELDOUT_NAMES | set(HELDOUT_HELPERS)):
            what = node.value
        elif _helper_name(node, aliases, modules):  # not called here: its flag not checked
            what = f"{_helper_name(node, aliases, modules)} passed on"
        elif _sets_flag_true(node):
            what = "held-out flag set true"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and any(
                isinstance(x, ast.Constant) and x.value == HELDOUT_SEED
                for x in (node.left, node.right)):
            what = f"{HELDOUT_SEED} +"
        elif (isinstance(node, ast.keyword) and node.arg == "seed"
              and isinstance(node.value, ast.Constant) and node.value.value == HELDOUT_SEED):
            what = f"seed={HELDOUT_SEED}"
        if what is not None:
            uses.append((getattr(node, "lineno", 0), what, gated))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "heldout" in node.name:
            gated = True
        if isinstance(node, (ast.If, ast.IfExp)):
            body, orelse = _gates(node.test)
            visit(node.test, gated)
            for child in node.body if isinstance(node.body, list) else [node.body]:
                visit(child, gated or body)
            for child in node.orelse if isinstance(node.orelse, list) else [node.orelse]:
                visit(child, gated or orelse)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, gated)

    visit(tree, False)
    return uses


def _gates(test: ast.AST) -> tuple[bool, bool]:
    """Which branches of ``if test`` only run in a held-out mode: ``(body, orelse)``. The body
    of ``if heldout`` / ``if heldout and x``, the else of ``if not heldout``."""
    if _is_flag(test):
        return True, False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _is_flag(test.operand):
        return False, True
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) and any(
            _is_flag(v) for v in test.values):
        return True, False
    return False, False


def violations(path: Path) -> list[str]:
    """One line per use of the held-out draws that ``ALLOWED`` does not allow in ``path``."""
    uses = heldout_uses(path.read_text())
    entry = ALLOWED.get(path.name)
    if entry is None:
        return [f"{path.name}:{line}: {what} (draws the protocol's held-out test traces; a "
                f"development tool draws seeds 2000+, an evaluation script needs an ALLOWED "
                f"entry with its reason)" for line, what, _ in uses]
    kind, _, free = entry
    if kind == EVALUATION:
        return []
    return [f"{path.name}:{line}: {what} outside a held-out-named condition (the default must "
            f"be development draws)" for line, what, gated in uses
            if not gated and what not in free]


def test_no_development_tool_draws_the_heldout_test_traces() -> None:
    bad = [v for f in sorted(EXPERIMENTS.glob("*.py")) for v in violations(f)]
    assert not bad, "\n".join(bad)


def test_allowed_entries_exist_and_are_needed() -> None:
    """An allow-list entry names a file that still draws the held-out traces (a stale entry
    would let a new tool of that name draw them silently), with a reason."""
    for name, (kind, reason, _) in ALLOWED.items():
        path = EXPERIMENTS / name
        assert path.is_file(), name
        assert kind in (EVALUATION, GATED) and reason, name
        assert heldout_uses(path.read_text()), f"{name}: no held-out use; drop its entry"
        if kind == GATED:  # its held-out mode is an explicit flag
            assert adds_heldout_flag(path.read_text()), name


def adds_heldout_flag(source: str) -> bool:
    """``source`` adds ``--heldout-eval`` / ``--heldout`` to its parser: the literal, or
    ``add_draw_arguments(ap, ...)`` without ``heldout=False``."""
    if '"--heldout-eval"' in source or '"--heldout"' in source:
        return True
    return any(isinstance(n, ast.Call) and ast.unparse(n.func).endswith("add_draw_arguments")
               and all(k.arg != "heldout" or (isinstance(k.value, ast.Constant)
                                              and k.value.value is True) for k in n.keywords)
               for n in ast.walk(ast.parse(source)))


BAD_TOOLS = {
    # a development tool drawing the held-out traces, each way the scan must catch
    "import": ("from cowrl.generalization import test_traces\n"
               "ts = test_traces('seq', 3, None, None)\n"),
    "attribute": "import cowrl.generalization as G\nts = G.test_traces('seq', 3, None, None)\n",
    "family_trace": ("from cowrl.traces import generators as g\n"
                     "ts = [g.family_trace('seq', seed=100_000 + i) for i in range(3)]\n"),
    "seed base": ("from cowrl.traces import generators as g\nBASE = 100000\n"
                  "ts = [g.randomized(100000 + i, 0) for i in range(3)]\n"),
    "seed keyword": "from x import draw\nt = draw('seq', seed=100_000)\n",
    "getattr": "import cowrl.generalization as G\nf = getattr(G, 'test_traces')\n",
    "run_job": "from cowrl.generalization import run_job\nrun_job(None)\n",
    "helper": ("from cowrl.devdraws import family_draws\n"
               "ts = family_draws('seq', 3, heldout_eval=True)\n"),
    "helper, flag": ("import argparse\nfrom cowrl.devdraws import add_draw_arguments, draw_groups\n"
                     "ap = argparse.ArgumentParser()\nadd_draw_arguments(ap)\n"
                     "args = ap.parse_args()\n"
                     "ts = draw_groups(['seq'], 3, args.first, heldout_eval=args.heldout_eval)\n"),
}

DEVELOPMENT_TOOLS = {
    # a development tool drawing through the helper without the held-out traces: allowed
    "default": "from cowrl.devdraws import family_draws\nts = family_draws('seq', 3)\n",
    "false": ("import cowrl.devdraws as D\n"
              "ts = D.draw_groups(['seq'], 3, 2000, False)\n"
              "us = D.family_draws('seq', 3, heldout_eval=False)\n"),
    "development_draws": ("from cowrl.devdraws import development_draws\n"
                          "ts = development_draws('seq', 3, 2001, named=False)\n"),
    "an option of that name": ("import argparse\nap = argparse.ArgumentParser()\n"
                               "ap.add_argument('--family-draws', type=int)\n"
                               "n = ap.parse_args().family_draws\n"),
}

HELPER_MISUSE = {
    # an allowed development tool (GATED) calling the helper so that it draws the held-out
    # traces by default, each way the scan must catch
    "true": "ts = family_draws('seq', 3, heldout_eval=True)\n",
    "positional": "ts = family_draws('seq', 3, 2000, 1)\n",
    "groups": "ts = draw_groups(['seq'], 3, 2000, True)\n",
    "negated flag": "ts = family_draws('seq', 3, heldout_eval=not args.heldout_eval)\n",
    "expression": "ts = family_draws('seq', 3, heldout_eval=args.heldout_eval or 1)\n",
    "kwargs": "kw = {'heldout_eval': True}\nts = family_draws('seq', 3, **kw)\n",
    "alias": ("from cowrl.devdraws import family_draws as draw\n"
              "ts = draw('seq', 3, heldout_eval=True)\n"),
    "module": "import cowrl.devdraws as D\nts = D.draw_groups(['seq'], 3, heldout_eval=True)\n",
    "from module": ("from cowrl import devdraws\n"
                    "ts = devdraws.family_draws('seq', 3, heldout_eval=True)\n"),
    "partial": ("import functools\n"
                "f = functools.partial(family_draws, heldout_eval=args.heldout_eval)\n"),
    "getattr": "import cowrl.devdraws as D\nf = getattr(D, 'family_draws')\n",
    "flag set": "args.heldout_eval = True\n",
    "default true": "def draws(heldout_eval=True):\n    return family_draws('seq', 3, "
                    "heldout_eval=heldout_eval)\n",
    "else branch": ("ts = (family_draws('seq', 3) if args.heldout_eval\n"
                    "      else test_traces('seq', 3, None, None))\n"),
    "if not": "if not args.heldout_eval:\n    ts = test_traces('seq', 3, None, None)\n",
}


@pytest.mark.parametrize("name", sorted(BAD_TOOLS))
def test_the_scan_catches_a_new_tool(tmp_path: Path, name: str) -> None:
    f = tmp_path / "new_dev_tool.py"
    f.write_text(BAD_TOOLS[name])
    assert violations(f), name


@pytest.mark.parametrize("name", sorted(DEVELOPMENT_TOOLS))
def test_a_new_tool_may_draw_development_traces_with_the_helper(tmp_path: Path,
                                                                name: str) -> None:
    f = tmp_path / "new_dev_tool.py"
    f.write_text(DEVELOPMENT_TOOLS[name])
    assert not violations(f), name


@pytest.mark.parametrize("name", sorted(HELPER_MISUSE))
def test_gated_entries_fail_on_a_helper_that_draws_heldout_by_default(tmp_path: Path,
                                                                      name: str) -> None:
    """shield_proof.py draws through cowrl.devdraws behind --heldout-eval and passes; the
    same file with the helper drawing the held-out traces by default fails."""
    src = (EXPERIMENTS / "shield_proof.py").read_text()
    f = tmp_path / "shield_proof.py"
    f.write_text(src)
    assert not violations(f)
    f.write_text(src + "\n" + HELPER_MISUSE[name])
    assert violations(f), name


def test_gated_entries_need_the_flag() -> None:
    """A GATED entry's held-out mode is a flag it adds: ``--heldout-eval`` literally or
    through ``add_draw_arguments`` (not with ``heldout=False``)."""
    assert adds_heldout_flag("add_draw_arguments(ap)\n")
    assert adds_heldout_flag("ap.add_argument(\"--heldout\", action='store_true')\n")
    assert not adds_heldout_flag("add_draw_arguments(ap, heldout=False)\n")
    assert not adds_heldout_flag("add_draw_arguments(ap, heldout=flag)\n")
    assert not adds_heldout_flag("ap.add_argument('--first', type=int)\n")


def test_devdraws_draws_development_seeds_unless_heldout_eval() -> None:
    """cowrl.devdraws: development seeds ``first + i`` (2000+), ``--first`` refused below
    2000 naming the flag, the held-out draws only with ``heldout_eval``."""
    from cowrl.generalization import test_traces
    from cowrl.traces.generators import randomized

    ts = devdraws.family_draws("seq", 2, 2005)
    assert [t.name for t in ts] == ["seq_2005", "seq_2006"]
    assert [t.meta["sampler_seed"] for t in ts] == [2005, 2006]
    same = randomized(2005, 0, families="seq")
    assert ts[0].pages.tolist() == same.pages.tolist()
    assert [t.name for t in devdraws.development_draws("seq", 2, named=False)] == ["rand0"] * 2
    held = devdraws.draw_groups(["seq", "sparse"], 1, heldout_eval=True)
    assert {f: [t.name for t in ts] for f, ts in held.items()} == {
        "seq": ["seq_0"], "sparse": ["sparse_0"]}
    assert held["seq"][0].pages.tolist() == test_traces("seq", 1, None, None)[0].pages.tolist()
    for call in (lambda: devdraws.family_draws("seq", 1, 1999),
                 lambda: devdraws.family_draws("seq", 1, 100, heldout_eval=True),
                 lambda: devdraws.draw_groups([], 1, 0)):
        with pytest.raises(ConfigError, match=r"^--first: development draws are seeds 2000\+$"):
            call()


def test_gated_entries_fail_on_an_ungated_default(tmp_path: Path) -> None:
    """An allowed development tool that draws the held-out traces by default fails."""
    src = (EXPERIMENTS / "guarded_options.py").read_text()
    f = tmp_path / "guarded_options.py"
    f.write_text(src)
    assert not violations(f)
    f.write_text(src + "\nDEFAULT = test_traces('seq', 3, None, None)\n")
    assert violations(f)
    f.write_text("from cowrl.traces.generators import randomized\n"
                 "ts = [randomized(2000 + i, 0, families='seq') for i in range(3)]\n"
                 "N = 100_000  # a write count, not a seed base\n")
    assert not violations(f)


@pytest.mark.parametrize(("script", "args"), [
    ("guarded_options", ["--first", "100"]),
    ("shield_proof", ["--first", "100"]),
    ("safe_ceiling", ["--random-fills", "--first", "100"]),
    ("apps_signals", ["signals", "--families", "seq", "--first", "100"]),
])
def test_development_tools_refuse_seeds_below_2000(script: str, args: list[str]) -> None:
    res = subprocess.run([sys.executable, str(EXPERIMENTS / f"{script}.py"), *args],
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "error: --first: development draws are seeds 2000+"), res.stderr


def test_apps_signals_draws_development_seeds_by_default() -> None:
    aps = load_experiment("apps_signals")
    ts = aps.load_groups([], ["seq", "sparse"], 2, False)
    assert [t.name for t in ts["seq"] + ts["sparse"]] == [
        "seq_2000", "seq_2001", "sparse_2000", "sparse_2001"]
    assert all(t.meta["sampler_seed"] >= 2000 for t in ts["seq"] + ts["sparse"])
    held = aps.family_draws("seq", 2, heldout_eval=True)
    assert [t.name for t in held] == ["seq_0", "seq_1"]
