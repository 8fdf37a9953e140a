"""Hand-made inputs that used to get past the loading boundary: config files a user edits
(conf/costmodel/NAME.yaml from calibrate.py, a policy or workload of their own) and trace
fields whose arithmetic wraps. Each must stop with one ConfigError / TraceError line naming
the field or file, before any output is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cowrl.registry as registry
from cowrl.cli import check_choices, check_overrides
from cowrl.errors import ConfigError, TraceError
from cowrl.evaluate import evaluate
from cowrl.registry import make_costmodel, make_policy, make_workload
from cowrl.traces.io import load_trace

COST = {"_target_": "cowrl.sim.costmodel.CostModel", "name": "mine", "fault_ns": 800.0,
        "copy_ns": 2500.0, "precopy_ns": 2500.0}


def test_region_sizes_whose_sum_wraps_are_refused(tmp_path: Path) -> None:
    """Four sizes of ~2^62 sum to 10 in int64: the file was accepted and replayed with
    unsorted region ends (fault_around copied across them)."""
    f = tmp_path / "wrap.npz"
    np.savez(f, pages=np.arange(10), n_pages=np.int64(10),
             region_sizes=np.array([2**62, 2**62, 2**62, 2**62 + 10], dtype=np.int64))
    with pytest.raises(TraceError, match=r"wrap\.npz: region_sizes must be positive and sum"):
        load_trace(f)


@pytest.mark.parametrize(("change", "needle"), [
    ({"copy_ns": 0.0, "precopy_ns": 0.0, "fault_ns": 0.0}, "costmodel.copy_ns must be > 0"),
    ({"copy_ns": 0.0}, "costmodel.copy_ns must be > 0"),
    ({"thp_model": 3}, "costmodel.thp_model: expected a THP model config"),
    ({"decide_program_ns": [1, 2]}, "costmodel.decide_program_ns: expected ns by program"),
    ({"_target_": None}, "costmodel: no _target_ field"),
    ({"_target_": "builtins.dict"}, "costmodel: _target_ 'builtins.dict' built a dict, not a "
                                    "cost model"),
])
def test_a_hand_written_costmodel_is_checked_where_it_loads(change: dict[str, Any],
                                                            needle: str) -> None:
    spec = {k: v for k, v in {**COST, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        make_costmodel(spec)


def test_a_costmodel_file_without_target_is_named(tmp_path: Path, monkeypatch) -> None:
    """``costmodel=mine`` whose file has no ``_target_`` names the file's option, as a policy's
    or a workload's does (it said only "costmodel: no _target_ field")."""
    (tmp_path / "costmodel").mkdir()
    (tmp_path / "costmodel" / "mine.yaml").write_text("fault_ns: 5\n")
    monkeypatch.setattr(registry, "CONF_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"^costmodel mine: no _target_ field"):
        make_costmodel("mine")


def test_costmodel_auto_outside_eval_names_the_models() -> None:
    """``train.py costmodel=auto`` (eval.py's default, resolved only there) said "no _target_
    field ... compare the files of conf/" about a file conf/ ships."""
    with pytest.raises(ConfigError, match=r"^costmodel: auto \(the target's own cost model\) "
                                          r"is eval\.py's only; name one here \(host, "):
        make_costmodel("auto")


def test_policy_and_workload_configs_without_target_name_themselves() -> None:
    """Before: the dict came back and eval.py died on ``'dict' object has no attribute``."""
    with pytest.raises(ConfigError, match="policy mine: no _target_ field"):
        make_policy({"name": "mine", "k": 3})
    with pytest.raises(ConfigError, match="workload mine: no _target_ field"):
        make_workload({"name": "mine", "n_pages": 3})


def test_a_malformed_conf_file_names_the_file_and_line(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "broken.yaml").write_text("name: x\nk: [1,\n")
    (tmp_path / "policy" / "listed.yaml").write_text("- 1\n- 2\n")
    monkeypatch.setattr(registry, "CONF_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"policies: .*broken\.yaml, line 3, column 1 is not "
                                          r"valid YAML"):
        make_policy("broken")
    with pytest.raises(ConfigError, match=r"listed\.yaml must hold a mapping of fields"):
        make_policy("listed")


def test_the_cli_says_a_malformed_conf_file_in_one_line(tmp_path: Path, capsys) -> None:
    """On the command line (``costmodel=NAME``, also in a ``-m`` sweep) and in a config's
    defaults, Hydra printed the YAML parser's traceback."""
    (tmp_path / "costmodel").mkdir()
    (tmp_path / "costmodel" / "good.yaml").write_text(json.dumps(COST))
    (tmp_path / "costmodel" / "broken.yaml").write_text("fault_ns: [1,\n")
    (tmp_path / "mini.yaml").write_text("defaults:\n  - costmodel: broken\n  - _self_\n")
    for argv, conf in ((["-m", "costmodel=good,broken"], "check_choices"),
                       ([], "check_overrides")):
        with pytest.raises(SystemExit) as e:
            if conf == "check_choices":
                check_choices(argv, tmp_path)
            else:
                check_overrides("mini", argv, tmp_path)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: costmodel: "), err
        assert "broken.yaml, line 2, column 1 is not valid YAML" in err[0], err


def test_a_costmodel_that_prices_nothing_keeps_the_earlier_results(compose_cfg,
                                                                   tmp_path: Path) -> None:
    """All costs 0: results.json was overwritten, then the report divided by zero."""
    base = ["workloads=[seq]", "workload_params.seq.n_pages=64", "workload_params.seq.writes=64",
            "policies=[baseline,guarded]", f"out={tmp_path}", "plots=false", "progress=false",
            "costmodel=seed_table1"]
    evaluate(compose_cfg("eval", base))
    before = (tmp_path / "results.json").read_bytes()
    cfg = compose_cfg("eval", [*base, "costmodel.fault_ns=0", "costmodel.copy_ns=0",
                               "costmodel.precopy_ns=0"])
    with pytest.raises(ConfigError, match=r"costmodel\.copy_ns must be > 0"):
        evaluate(cfg)
    assert (tmp_path / "results.json").read_bytes() == before


def _my_policy(tmp_path: Path, monkeypatch, stem: str, **change: Any) -> None:
    """A copy of conf/ with ``conf/policy/<stem>.yaml``, a copy of guarded.yaml with ``change``
    (the way a user makes a variant of a shipped policy)."""
    import shutil

    import yaml

    conf = tmp_path / "conf"
    shutil.copytree(registry.CONF_DIR, conf)
    cfg = yaml.safe_load((conf / "policy" / "guarded.yaml").read_text())
    (conf / "policy" / f"{stem}.yaml").write_text(yaml.safe_dump({**cfg, **change}))
    monkeypatch.setattr(registry, "CONF_DIR", conf)


def test_a_copied_policy_file_that_keeps_the_name_is_refused(compose_cfg, tmp_path: Path,
                                                             monkeypatch) -> None:
    """conf/policy/mine.yaml copied from guarded.yaml with one value changed, its ``name:``
    left as is: ``policies=[guarded,mine]`` printed two rows both named guarded, nothing said
    (session 44, a user's walk-through)."""
    _my_policy(tmp_path, monkeypatch, "mine", floor=64)
    out = tmp_path / "out"
    cfg = compose_cfg("eval", ["workloads=[seq]", "workload_params.seq.n_pages=64",
                               "policies=[baseline,guarded,mine]", f"out={out}",
                               "plots=false", "progress=false"])
    with pytest.raises(ConfigError, match=r"^policies: guarded and mine both name their rows "
                                          r"'guarded' \(the name: field of conf/policy/"
                                          r"mine\.yaml\); give each its own name$"):
        evaluate(cfg)
    assert not (out / "results.json").exists()


@pytest.mark.parametrize("name", [7, "", ["a"]])
def test_a_policy_name_that_is_no_text_is_refused(tmp_path: Path, monkeypatch,
                                                  name: Any) -> None:
    """``name: 7`` ran every policy, then died in the printed table (rich: unable to render
    int) with a traceback, before report.md."""
    _my_policy(tmp_path, monkeypatch, "mine", name=name)
    with pytest.raises(ConfigError, match=r"^policy mine: name must be a non-empty string "
                                          r"\(the row's name\), got "):
        make_policy("mine")


def test_an_unknown_key_names_the_file_not_the_name_it_copied(tmp_path: Path,
                                                              monkeypatch) -> None:
    """An unknown key in conf/policy/mine.yaml (copied from guarded.yaml) was reported as
    ``policy guarded: ... unexpected keyword argument``: the shipped file, not the user's."""
    _my_policy(tmp_path, monkeypatch, "mine", floorr=3)
    with pytest.raises(ConfigError, match=r"^policy mine: .*unexpected keyword argument "
                                          r"'floorr'"):
        make_policy("mine")


@pytest.mark.parametrize(("returned", "status"), [(None, 0), (0, 0), (3, 3),
                                                  ({"rows": []}, 0)])
def test_a_script_exits_with_its_status_not_its_results(returned: Any, status: int,
                                                        capsys) -> None:
    """experiments/seed_table1.py's main returns its rows (for callers): run_script passed
    them to sys.exit, so a successful run printed a dict on stderr and exited 1 (session 44,
    ``python experiments/seed_table1.py --pages 1024 --repeats 1``)."""
    from cowrl.cli import run_script

    with pytest.raises(SystemExit) as e:
        run_script(lambda: returned)
    assert (e.value.code or 0) == status
    assert capsys.readouterr().err == ""
