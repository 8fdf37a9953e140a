"""Package structure: no import cycles, light imports, gym registration, no class branching."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "cowrl"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module -> cowrl modules it imports (module level or inside functions; not the
    ``if TYPE_CHECKING:`` blocks, which never run)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                # importing a.b.c runs a/__init__ and a/b/__init__ too, unless the importer
                # lives inside them (then they are already being imported)
                parts = t.split(".")
                for i in range(1, len(parts) + 1):
                    m = ".".join(parts[:i])
                    inside = name.startswith(m + ".")
                    if m in modules and m != name and (i == len(parts) or not inside):
                        deps.add(m)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_in_cowrl() -> None:
    graph = import_graph()
    assert "cowrl.sim.engine" in graph and "cowrl.sim.costmodel" in graph["cowrl.sim.engine"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])



def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_sim_traces_kernel_import_neither_gymnasium_nor_torch() -> None:
    code = ("import sys\n"
            "import cowrl.sim, cowrl.sim.engine, cowrl.traces, cowrl.kernel\n"
            "import cowrl.kernel.backend, cowrl.kernel.jobs, cowrl.kernel.table\n"
            "heavy = sorted(m for m in ('gymnasium', 'torch', 'stable_baselines3') "
            "if m in sys.modules)\n"
            "print(heavy)\n")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_import_cowrl_is_light_and_registers_the_env_when_gymnasium_comes() -> None:
    code = ("import sys\nimport cowrl\nassert 'gymnasium' not in sys.modules\n"
            "assert 'numba' not in sys.modules and 'numpy' not in sys.modules\n"
            "import gymnasium as gym\n"
            "env = gym.make('cowrl/Precopy-v0', workloads=[{'generator': 'sequential', "
            "'n_pages': 64, 'writes': 64}])\n"
            "obs, _ = env.reset(seed=0)\n"
            "venv = gym.make_vec('cowrl/Precopy-v0', num_envs=3, "
            "vectorization_mode='vector_entry_point')\n"
            "print(type(env.unwrapped).__name__, type(venv).__name__, obs.shape)\n")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["PrecopyEnv", "PrecopyVectorEnv", "(7,)"]
    # the envs module first (it imports gymnasium itself)
    out = _run("import cowrl.envs.precopy_env\nimport gymnasium as gym\n"
               "print(gym.make('cowrl/Precopy-v0').spec.id)\n")
    assert out.returncode == 0 and out.stdout.strip() == "cowrl/Precopy-v0", out.stderr
    # gymnasium first, then cowrl: registered at once
    out = _run("import gymnasium as gym\nimport cowrl\nprint('cowrl/Precopy-v0' in "
               "gym.registry)\n")
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def _policy_classes() -> set[str]:
    """Classes defined in cowrl/ that derive (transitively) from Policy or are trainer specs."""
    bases: dict[str, set[str]] = {}
    for p in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
    found = {"Policy", "SB3Spec"}
    changed = True
    while changed:
        new = {c for c, bs in bases.items() if bs & found} - found
        found |= new
        changed = bool(new)
    return found


def test_nothing_branches_on_a_policy_class() -> None:
    classes = _policy_classes()
    assert {"TablePolicy", "BanditPolicy", "StaticPrecopy", "Oracle"} <= classes
    hits = []
    for p in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("isinstance",
                                                                          "issubclass"):
                names = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "")
                         for n in ast.walk(node.args[1])}
                if names & classes:
                    hits.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not hits, hits


def test_public_api_names_resolve_lazily() -> None:
    code = ("import sys\nimport cowrl\nassert 'numpy' not in sys.modules\n"
            "from cowrl import load_trace, make_costmodel, make_policy, make_workload, simulate\n"
            "r = simulate(make_workload('seq', seed=0, n_pages=64, writes=64), "
            "make_policy('precopy'), make_costmodel('seed_table1'))\n"
            "missing = [n for n in cowrl.__all__ if getattr(cowrl, n, None) is None]\n"
            "print(r.faults, r.precopied, missing, 'nothing' in dir(cowrl))\n")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["32", "32", "[]", "False"]
    out = _run("import cowrl\ncowrl.nothing\n")
    assert out.returncode != 0 and "module 'cowrl' has no attribute 'nothing'" in out.stderr


def test_experiment_scripts_report_user_errors_in_one_line() -> None:
    """Every experiments/*.py ends in cli.run_script (or the Hydra entry's run_cli), so a bad
    argument is one line and status 2, not a traceback."""
    scripts = sorted((ROOT / "experiments").glob("*.py"))
    tails = {p.name: p.read_text().rstrip().splitlines()[-1].strip() for p in scripts}
    assert {n: t for n, t in tails.items() if t not in ("run_script(main)", "main()")
            or (t == "main()" and n != "generalization.py")} == {}
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_policy.py"),
                          "--artifact", "/nonexistent/x"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: checkpoints: no policy artifact at /nonexistent/x"], out.stderr


def test_experiment_scripts_help_says_a_whole_sentence() -> None:
    """``--help`` of 13 experiments/*.py printed their docstring's first *line* as the
    description, cut mid-sentence ("... run on a machine whose true"; session 44)."""
    cut = {}
    for p in sorted((ROOT / "experiments").glob("*.py")):
        tree = ast.parse(p.read_text())
        doc = ast.get_docstring(tree, clean=False) or ""
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "ArgumentParser"
                    and any(k.arg == "description" and "splitlines()[0]" in ast.unparse(k.value)
                            for k in node.keywords)):
                first = doc.strip().splitlines()[0] if doc.strip() else ""
                if not first.rstrip().endswith((".", ":", ")", "`")):
                    cut[p.name] = first[-40:]
    assert cut == {}
