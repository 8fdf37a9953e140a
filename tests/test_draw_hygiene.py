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
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_experiment

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"

HELDOUT_NAMES = frozenset({"test_traces", "family_trace", "add_ceilings", "run_job"})
"""What draws the held-out test traces (cowrl.generalization, cowrl.traces.generators)."""
HELDOUT_SEED = 100_000
"""The held-out draws' seed base (``family_trace(F, seed=100_000 + i)``)."""

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
    return any((isinstance(n, ast.Name) and "heldout" in n.id)
               or (isinstance(n, ast.Attribute) and "heldout" in n.attr)
               for n in ast.walk(node))


def heldout_uses(source: str) -> list[tuple[int, str, bool]]:
    """``(line, what, gated)`` for each use of the held-out draws in ``source``'s code:
    a name in ``HELDOUT_NAMES`` (name, attribute, import or string) or the seed base added
    or passed as ``seed=``. ``gated``: under an ``if`` / conditional expression testing a
    held-out-named value, or inside a function named for it. Imports count as gated (they
    draw nothing); docstrings are not code."""
    uses: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, gated: bool) -> None:
        what = None
        if isinstance(node, ast.Name) and node.id in HELDOUT_NAMES:
            what = node.id
        elif isinstance(node, ast.Attribute) and node.attr in HELDOUT_NAMES:
            what = node.attr
        elif isinstance(node, ast.ImportFrom) and any(a.name in HELDOUT_NAMES
                                                      for a in node.names):
            uses.append((node.lineno, "import", True))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value in HELDOUT_NAMES):
            what = node.value
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
        if isinstance(node, (ast.If, ast.IfExp)) and _mentions_heldout(node.test):
            gated = True
        for child in ast.iter_child_nodes(node):
            visit(child, gated)

    visit(ast.parse(source), False)
    return uses


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
            src = path.read_text()
            assert '"--heldout-eval"' in src or '"--heldout"' in src, name


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
}


@pytest.mark.parametrize("name", sorted(BAD_TOOLS))
def test_the_scan_catches_a_new_tool(tmp_path: Path, name: str) -> None:
    f = tmp_path / "new_dev_tool.py"
    f.write_text(BAD_TOOLS[name])
    assert violations(f), name


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
