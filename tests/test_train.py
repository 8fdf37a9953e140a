"""train(cfg): artifacts, resume, reproducibility, config errors, and eval of trained policies."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cowrl.errors import ConfigError
from cowrl.evaluate import evaluate
from cowrl.policies.artifacts import find_latest, load_policy, read_artifact
from cowrl.policies.table import TablePolicy
from cowrl.registry import make_costmodel, make_workload
from cowrl.sim.simulator import simulate
from cowrl.training import train

ROOT = Path(__file__).resolve().parent.parent
FAST = ["workloads=[seq,random,stride]", "progress=false", "eval_every=1"]


def _cfg(compose_cfg, out: Path, *extra: str):
    return compose_cfg("train", [*FAST, f"out={out}", f"latest_dir={out.parent / 'latest'}",
                                 *extra])


def test_train_writes_artifact_curve_and_latest(compose_cfg, tmp_path: Path) -> None:
    # The round-1 bandit (a TABLE artifact); the shielded default: tests/test_bandit_shield.py
    res = train(_cfg(compose_cfg, tmp_path / "a", "rounds=3", "policy=bandit_stream"))
    art = read_artifact(tmp_path / "a")
    assert art["format"] == "cowrl-policy" and art["version"] == 1 and art["kind"] == "table"
    assert art["name"] == "bandit_stream"
    assert art["config"]["policy"]["learner"]["gamma"] == 0.98
    assert art["training"]["rounds"] == 3 and len(res["curve"]) == 3
    curve = (tmp_path / "a" / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("round,train_geomean") and len(curve) == 4
    assert any((tmp_path / "a" / "tb").iterdir())
    assert find_latest(tmp_path / "latest", "bandit_stream") == tmp_path / "a" / "policy.json"
    # Round trip: the loaded policy is the trained greedy table and decides identically.
    policy = load_policy(tmp_path / "a")
    assert isinstance(policy, TablePolicy) and policy.table == res["table"]
    cost = make_costmodel("seed_table1")
    t = make_workload("seq")
    assert simulate(t, policy, cost).faults < 200


def test_seed_reproducible_and_resume_equals_uninterrupted(compose_cfg, tmp_path: Path) -> None:
    full = train(_cfg(compose_cfg, tmp_path / "full", "rounds=4", "policy=thompson"))
    again = train(_cfg(compose_cfg, tmp_path / "again", "rounds=4", "policy=thompson"))
    assert read_artifact(tmp_path / "full")["learner"]["state"] == \
        read_artifact(tmp_path / "again")["learner"]["state"]
    train(_cfg(compose_cfg, tmp_path / "part", "rounds=2", "policy=thompson"))
    resumed = train(_cfg(compose_cfg, tmp_path / "part", "rounds=4", "policy=thompson"))
    assert resumed["table"] == full["table"] == again["table"]
    assert read_artifact(tmp_path / "part")["learner"]["state"] == \
        read_artifact(tmp_path / "full")["learner"]["state"]
    assert [r["round"] for r in resumed["curve"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("override,field", [
    ("rounds=0", "rounds"),
    ("seed=-1", "seed"),
    ("policy.learner.gamma=1.5", "gamma"),
    ("policy.epoch_faults=0", "epoch_faults"),
    ("workloads=[nope]", "workloads"),
    ("workloads=[seq,seq]", "workloads: duplicate names"),
])
def test_bad_config_is_one_config_error(compose_cfg, tmp_path: Path, override: str,
                                        field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        train(_cfg(compose_cfg, tmp_path / "x", "rounds=1", override))


@pytest.mark.parametrize(("arg", "line"), [
    ("rounds=0", "error: rounds must be an integer >= 1, got 0"),
    ("lambda=abc", "error: lambda must be a finite number, got 'abc'"),
    ("policy=nope", "error: policy: unknown policy 'nope' (available: bandit, "),
    ("costmodel=mybox", "error: costmodel: unknown costmodel 'mybox' (available: "),
    ("resume=maybe", "error: resume must be true or false, got 'maybe'"),
    # one name without brackets: it was read letter by letter ("unknown workload 's'")
    ("workloads=sequ", "error: workloads: unknown workload 'sequ' (available: "),
    ("+workload_params.seq=5", "error: workload_params.seq: expected generator parameters"),
    ("workload_params.rand0.exclude=seq", "error: workload_params.rand0: no such field here "
     "('+workload_params.rand0.exclude=seq' would add one)"),
    # eval.py's spelling: the hint is train.py's policy=NAME, not a + (which trained bandit)
    ("policies=[guarded]", "error: policies: no such field here (train.py takes one: "
     "policy=guarded)"),
    ("policies=[ppo,dqn]", "error: policies: no such field here (train.py takes one: "
     "policy=ppo; several: -m policy=ppo,dqn)"),
    # with the + Hydra added a key train.py never reads, and it trained the default bandit
    ("+policies=[guarded]", "error: policies: no such field here (train.py takes one: "
     "policy=guarded)"),
    ("+policies=[ppo,dqn]", "error: policies: no such field here (train.py takes one: "
     "policy=ppo; several: -m policy=ppo,dqn)"),
    ("+foo=1", "error: foo: no such field here (train.py never reads it)"),
    # without the + the hint must not send the user to the + that is then refused
    ("foo=1", "error: foo: no such field here (train.py never reads it)"),
])
def test_cli_bad_config_is_one_line(python: str, tmp_path: Path, arg: str, line: str) -> None:
    p = subprocess.run([python, "train.py", arg, f"out={tmp_path}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(line), p.stderr

def test_an_unwritable_latest_dir_stops_before_training(python: str, tmp_path: Path) -> None:
    """latest_dir is written after training: a file in its place was a traceback at the end
    of the run; now one line before it (policy=baseline: no training, the same path)."""
    f = tmp_path / "a_file"
    f.write_text("x")
    p = subprocess.run([python, "train.py", "policy=baseline", f"out={tmp_path / 'o'}",
                        f"latest_dir={f}", "progress=false"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and err == [f"error: latest_dir: cannot create {f} (File exists)"], \
        p.stderr
    assert not (tmp_path / "o" / "policy.json").exists()



def test_eval_uses_trained_artifacts(compose_cfg, tmp_path: Path) -> None:
    train(_cfg(compose_cfg, tmp_path / "b", "rounds=2"))
    latest = tmp_path / "latest"
    # Default comparison: the trained bandit against the references, with a report.
    cfg = compose_cfg("eval", ["workloads=[seq,random,heldout_stride8]", f"out={tmp_path / 'e'}",
                               f"latest_dir={latest}", "plots=false", "progress=false"])
    res = evaluate(cfg)
    pols = {r["policy"] for r in res["rows"]}
    assert {"bandit", "baseline", "precopy", "precopy_best", "hugepage", "fault_around",
            "readahead", "oracle"} <= pols
    best = {r["workload"]: r.get("best_k") for r in res["rows"] if r["policy"] == "precopy_best"}
    assert best["seq"] == 64 and best["random"] == 0
    report = (tmp_path / "e" / "report.md").read_text()
    assert "| seq |" in report and "bandit/held-out" in report
    # Explicit policies and checkpoints=[DIR]: the row is named after the policy.
    cfg = compose_cfg("eval", ["policies=[baseline]", f"checkpoints=[{tmp_path / 'b'}]",
                               "workloads=[seq]", f"out={tmp_path / 'f'}", "latest_dir=null",
                               "plots=false", "progress=false", "report=false"])
    rows = evaluate(cfg)["rows"]
    assert sorted(r["policy"] for r in rows) == ["bandit", "baseline"]
    with pytest.raises(ConfigError, match="no trained artifact for 'linucb'"):
        evaluate(compose_cfg("eval", ["policies=[linucb]", "workloads=[seq]",
                                      f"latest_dir={tmp_path / 'none'}",
                                      f"out={tmp_path / 'g'}", "progress=false"]))
    assert json.loads((tmp_path / "e" / "results.json").read_text())["rows"]


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_sb3_policies_train_save_and_evaluate(compose_cfg, tmp_path: Path, algo: str) -> None:
    """stable-baselines3 on the env: a short run writes both artifacts and eval loads them."""
    steps = ["policy.kwargs.n_steps=128", "policy.kwargs.batch_size=64"] if algo == "ppo" else \
        ["policy.kwargs.learning_starts=64"]
    out = tmp_path / algo
    train(_cfg(compose_cfg, out, f"policy={algo}", "timesteps=256", *steps))
    art = read_artifact(out)
    assert art["kind"] == "sb3" and art["name"] == algo
    assert (out / "policy.sb3.zip").stat().st_size > 0
    rows = evaluate(compose_cfg("eval", [f"policies=[{algo},baseline]", "workloads=[seq]",
                                         f"latest_dir={tmp_path / 'latest'}",
                                         f"out={tmp_path / 'e'}", "plots=false",
                                         "progress=false", "report=false"]))["rows"]
    by = {r["policy"]: r for r in rows}
    assert by[algo]["writes"] == by["baseline"]["writes"] == 4096
    # The policy decided at every fault: counts obey the simulator's invariants.
    assert by[algo]["faults"] + by[algo]["precopied"] - by[algo]["wasted"] == 4096


def test_a_shielded_network_is_repriced_under_the_cost_model_it_is_evaluated_with(
        compose_cfg, tmp_path: Path) -> None:
    """train.py policy=ppo saves the lambda its shield was priced with (guard_lam); deployed
    under another cost model its shield takes that model's prices and allowance, as a frozen
    bandit's and guarded's do (before 2026-12-05 it kept the training prices: a PPO trained
    under seed_table1 and evaluated under host ran seed_table1's budget), and under the
    training model it decides exactly as saved. An artifact saved without guard_lam keeps its
    prices (itself)."""
    from cowrl.policies.sb3 import SB3Policy
    from cowrl.policies.shield import GUARD_OPTIONS, guard_constants

    out = tmp_path / "ppo"
    train(_cfg(compose_cfg, out, "policy=ppo", "timesteps=256", "policy.kwargs.n_steps=128",
               "policy.kwargs.batch_size=64"))
    art = read_artifact(out)
    assert art["policy"]["guard_lam"] == 1.0
    pol = load_policy(out)
    assert isinstance(pol, SB3Policy) and pol.guard_lam == 1.0
    st1, host = make_costmodel("seed_table1"), make_costmodel("host")
    saved = dict(pol.view.constants)
    same, other = pol.deployed_under(st1), pol.deployed_under(host)
    assert same is pol  # trained under seed_table1: already deployed so
    opts = {k: saved[k] for k in GUARD_OPTIONS}
    assert opts["proof"] == 1 and opts["grant_left"] == 3  # the shipped keys survive
    assert other.view.constants == {**guard_constants(host, 1.0, **opts)}
    assert other.view.constants["loss_ns"] != saved["loss_ns"]
    assert pol.view.constants == saved  # the saved policy is untouched
    t = make_workload("seq")
    # eval.py replays what for_trace gives: the re-priced shield (before session 23 it kept
    # the training prices there, deployed_under was not called)
    assert pol.for_trace(t, host, seed=0).view.constants == other.view.constants
    assert pol.for_trace(t, st1, seed=0).view.constants == saved
    for fast in (False, True):
        _, e0 = simulate(t, pol, st1, record_events=True, fast=fast)
        _, e1 = simulate(t, same, st1, record_events=True, fast=fast)
        assert e0.k.tolist() == e1.k.tolist()
    # saved before guard_lam: its shield keeps the training prices
    spec = {k: v for k, v in art["policy"].items() if k != "guard_lam"}
    old = SB3Policy.from_artifact(spec, "ppo", out)
    assert old.guard_lam is None and old.deployed_under(host) is old
    with pytest.raises(ConfigError, match="guard_lam must be a number >= 0") as e:
        SB3Policy.from_artifact({**art["policy"], "guard_lam": "1"}, "ppo", out)
    assert "\n" not in str(e.value)


def test_sb3_vec_env_adapter_resets_ended_sub_envs_in_the_same_step() -> None:
    """The SB3 VecEnv over PrecopyVectorEnv: same-step autoreset, terminal observations,
    episode returns equal the vector env's, and SB3's own checks pass."""
    from stable_baselines3.common.vec_env import VecEnv

    from cowrl.envs.vector import PrecopyVectorEnv
    from cowrl.training.vec_env import SB3VecEnv

    # Sequential 64-page traces, action 0 (k = 0): every episode is exactly 64 faults.
    venv = PrecopyVectorEnv(4, workloads=[{"generator": "sequential", "n_pages": 64,
                                           "writes": 64}])
    env = SB3VecEnv(venv, seed=3)
    assert isinstance(env, VecEnv) and env.num_envs == 4
    obs = env.reset()
    assert obs.shape == (4, 7)
    total = np.zeros(4)
    for t in range(64):
        obs, reward, done, infos = env.step(np.zeros(4, dtype=np.int64))
        total += reward
        if t < 63:
            assert not done.any()
    assert done.all()
    assert all("terminal_observation" in i and not i["TimeLimit.truncated"] for i in infos)
    # reset at once: the next observation is a new episode's first fault (write 0)
    assert np.array_equal(venv._st[:, 0], np.zeros(4))
    # -64 plain faults (reward -1 each, decide_ns = 0 in the default cost model)
    np.testing.assert_allclose(total, -64.0)


def test_a_policy_without_trainer_says_nothing_is_learned(compose_cfg, tmp_path: Path,
                                                         caplog) -> None:
    """train.py policy=guarded (no trainer) saves its configured table and says so; a learned
    policy does not say it."""
    caplog.set_level("INFO")
    res = train(compose_cfg("train", ["policy=guarded", "workloads=seq", f"out={tmp_path}",
                                      "latest_dir=null", "progress=false"]))
    assert "guarded has no trainer: nothing is learned" in caplog.text
    assert read_artifact(res["artifact"])["training"]["rounds"] == 0
    caplog.clear()
    train(compose_cfg("train", ["policy=bandit", "workloads=seq", "rounds=1",
                                f"out={tmp_path / 'b'}", "latest_dir=null", "progress=false"]))
    assert "has no trainer" not in caplog.text


def test_one_workload_without_brackets(compose_cfg, tmp_path: Path) -> None:
    """workloads=seq is the workload seq, as in eval.py (it was read as s, e, q)."""
    res = train(compose_cfg("train", ["policy=readahead", "workloads=seq", f"out={tmp_path}",
                                      "latest_dir=null", "progress=false"]))
    assert list(res["scores"]) == ["seq"]


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda a: a.update(learner=None), "holds 'thompson' with learner None, not 'thompson' "
     "with 'ThompsonSampling'"),  # was TypeError: 'NoneType' object is not subscriptable
    (lambda a: a["learner"]["state"].update(N=[[1.0, 2.0]]),
     "state 'N' has shape (1, 2), this config's learner (320, "),  # an IndexError rounds later
    (lambda a: a["learner"]["state"].pop("S"), "malformed (KeyError: 'S')"),
    (lambda a: a.pop("training"), "malformed (KeyError: 'training')"),
    (None, "is not a readable artifact"),  # named checkpoints=, which train.py has not
])
def test_a_bad_resume_checkpoint_is_one_error_naming_resume(compose_cfg, tmp_path: Path,
                                                            edit, needle: str) -> None:
    train(_cfg(compose_cfg, tmp_path / "a", "rounds=1", "policy=thompson"))
    ckpt = tmp_path / "a" / "checkpoint.json"
    good = (tmp_path / "a" / "policy.json").read_text()
    if edit is None:
        ckpt.write_text(ckpt.read_text()[:100])
    else:
        art = json.loads(ckpt.read_text())
        edit(art)
        ckpt.write_text(json.dumps(art))
    with pytest.raises(ConfigError, match=r"^resume: .*/a/checkpoint.json") as e:
        train(_cfg(compose_cfg, tmp_path / "a", "rounds=2", "policy=thompson"))
    assert needle in str(e.value)
    assert (tmp_path / "a" / "policy.json").read_text() == good  # the trained one is kept


_PPO = ["policy=ppo", "timesteps=256", "policy.kwargs.n_steps=128",
        "policy.kwargs.batch_size=64"]


def test_an_interrupted_sb3_retrain_keeps_the_trained_model(compose_cfg, tmp_path: Path,
                                                            monkeypatch) -> None:
    """Retraining into out= wrote the new policy.sb3.zip before scoring it and before the new
    policy.json: interrupted there, the old JSON named a model it had not measured and the
    old model was gone."""
    import cowrl.training.sb3 as sb3

    out = tmp_path / "p"
    train(_cfg(compose_cfg, out, *_PPO))
    before = {f: (out / f).read_bytes() for f in ("policy.json", "policy.sb3.zip")}

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sb3, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(compose_cfg, out, *_PPO, "resume=false", "seed=1"))
    assert {f: (out / f).read_bytes() for f in before} == before
    monkeypatch.undo()
    train(_cfg(compose_cfg, out, *_PPO, "resume=false", "seed=1"))  # completed: both new
    assert all((out / f).read_bytes() != b for f, b in before.items())
    assert read_artifact(out)["policy"]["model"] == "policy.sb3.zip"
    load_policy(out)


def test_an_unreadable_sb3_resume_checkpoint_is_one_error(compose_cfg, tmp_path: Path) -> None:
    """A half-written checkpoint.sb3.zip was SB3's ValueError traceback; the callback's saves
    now go through a temporary file, so an interrupt no longer leaves one."""
    out = tmp_path / "p"
    out.mkdir()
    (out / "checkpoint.sb3.zip").write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(ConfigError, match=r"^resume: .*/p/checkpoint.sb3.zip is not a readable "
                                          r"ppo checkpoint .*; use another out= or resume=false"):
        train(_cfg(compose_cfg, out, *_PPO))


@pytest.mark.parametrize(("override", "message"), [
    # SB3's AssertionError / TypeError tracebacks, or numpy's UFuncNoLoopError inside learn()
    ("policy.kwargs.n_steps=-1", "policy.kwargs: ppo refuses them (`n_steps * n_envs` must be "
     "greater than 1"),
    ("+policy.kwargs.colour=1", "policy.kwargs: ppo refuses them (PPO.__init__() got an "
     "unexpected keyword argument 'colour')"),
    ("policy.kwargs.gamma=abc", "policy.kwargs.gamma must be a number, got 'abc'"),
])
def test_bad_sb3_hyperparameters_are_one_config_error(compose_cfg, tmp_path: Path,
                                                      override: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        train(_cfg(compose_cfg, tmp_path / "p", *_PPO, override))
    assert str(e.value).startswith(message)


def test_a_stopped_artifact_write_keeps_the_old_one_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch) -> None:
    """policy.json, checkpoint.json and the latest pointers go through a temporary file;
    stopped while writing it, that file was left beside the artifact (policy.json.tmp<pid>)."""
    from cowrl.policies import artifacts

    path = tmp_path / "policy.json"
    artifacts.write_json_atomic(path, {"a": 1})

    def stopped(self, text):
        Path.write_bytes(self, text[:3].encode())
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", stopped)
    with pytest.raises(KeyboardInterrupt):
        artifacts.write_json_atomic(path, {"a": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]


@pytest.mark.parametrize(("override", "changed"), [
    ("costmodel=host", "costmodel.name ('seed_table1', now 'host')"),
    ("policy.learner.gamma=0.5", "policy.learner.gamma (1.0, now 0.5)"),
    ("seed=1", "seed (0, now 1)"),
    ("workloads=[seq,random]", "workloads (['seq', 'random', 'stride'], now ['seq', 'random'])"),
])
def test_resume_under_another_config_is_an_error(compose_cfg, tmp_path: Path, override: str,
                                                 changed: str) -> None:
    """resume (on by default) carried a table trained under one cost model, seed or set of
    workloads on under another, and policy.json recorded only the new config."""
    train(_cfg(compose_cfg, tmp_path / "a", "rounds=1", "policy=thompson"))
    good = (tmp_path / "a" / "policy.json").read_text()
    with pytest.raises(ConfigError) as e:
        train(_cfg(compose_cfg, tmp_path / "a", "rounds=2", "policy=thompson", override))
    assert str(e.value).startswith(f"resume: {tmp_path / 'a' / 'checkpoint.json'} was trained "
                                   f"with another {changed}")
    assert (tmp_path / "a" / "policy.json").read_text() == good
    # more rounds (and policy.train_rounds, which sets them) are what resume is for
    train(_cfg(compose_cfg, tmp_path / "a", "rounds=2", "policy=thompson",
               "policy.train_rounds=9"))
    assert read_artifact(tmp_path / "a")["training"]["rounds"] == 2


def test_sb3_resume_under_another_config_is_an_error(compose_cfg, tmp_path: Path,
                                                     caplog) -> None:
    """checkpoint.sb3.zip resumed under another seed, cost model or policy option carried the
    network trained under the old one on (bandits checked this since 249b1d7, PPO/DQN did
    not). The config travels inside the zip, so zip and config cannot part; more timesteps
    resume as before; a checkpoint saved before it resumes with a warning."""
    import zipfile

    out = tmp_path / "p"
    train(_cfg(compose_cfg, out, *_PPO))
    good = (out / "policy.json").read_text()
    for override, changed in [("seed=1", "seed (0, now 1)"),
                              ("policy.floor=0", "policy.floor (128, now 0)")]:
        with pytest.raises(ConfigError) as e:
            train(_cfg(compose_cfg, out, *_PPO, "timesteps=512", override))
        assert str(e.value) == (f"resume: {out / 'checkpoint.sb3.zip'} was trained with another "
                                f"{changed} (its model would be carried on under this one); "
                                "use another out= or resume=false")
        assert (out / "policy.json").read_text() == good
    caplog.set_level("INFO")
    train(_cfg(compose_cfg, out, *_PPO, "timesteps=512"))  # more steps: what resume is for
    assert f"resumed ppo from {out / 'checkpoint.sb3.zip'} at step 1024" in caplog.text
    # A checkpoint saved without the config (before 2026-12-04): resumed, with a warning.
    ckpt = out / "checkpoint.sb3.zip"
    with zipfile.ZipFile(ckpt) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    data = json.loads(entries["data"])
    assert data.pop("cowrl_config")["seed"] == 0
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(ckpt, "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    caplog.clear()
    train(_cfg(compose_cfg, out, *_PPO, "timesteps=2048", "seed=1"))
    assert f"resume: {ckpt} records no training config" in caplog.text
    assert f"resumed ppo from {ckpt} at step 1024" in caplog.text
    with zipfile.ZipFile(ckpt) as z:  # saved again: with this run's config from now on
        assert json.loads(z.read("data"))["cowrl_config"]["seed"] == 1
    assert read_artifact(out)["training"]["timesteps"] == 2048


def test_an_interrupted_bandit_retrain_keeps_the_old_curve(compose_cfg, tmp_path: Path,
                                                           monkeypatch) -> None:
    """resume=false into an out= holding a finished run deleted its curve.csv at the start:
    stopped before its first round, the retrain left no curve at all. Now the old curve stays
    until the new run has a row to replace it with (curve.csv is rewritten whole, through a
    temporary file, after every round)."""
    import cowrl.training.bandit as bandit

    out = tmp_path / "a"
    train(_cfg(compose_cfg, out, "rounds=2", "policy=thompson"))
    old = (out / "curve.csv").read_text()
    calls = {"n": 0}
    real = bandit.simulate

    def stopped_at(n: int):
        def simulate(*a, **k):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return real(*a, **k)
        return simulate

    monkeypatch.setattr(bandit, "simulate", stopped_at(1))  # before the first new round ends
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(compose_cfg, out, "rounds=2", "policy=thompson", "resume=false", "seed=1"))
    assert (out / "curve.csv").read_text() == old
    calls["n"] = 0
    monkeypatch.setattr(bandit, "simulate", stopped_at(7))  # in round 2: 6 replays a round
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(compose_cfg, out, "rounds=2", "policy=thompson", "resume=false", "seed=1"))
    new = (out / "curve.csv").read_text().splitlines()
    assert new[0] == old.splitlines()[0] and len(new) == 2 and new[1].startswith("1,")
    assert new[1] != old.splitlines()[1]  # the new run's round 1 (seed 1), not the old one's
    assert sorted(p.name for p in out.iterdir() if ".tmp" in p.name) == []


_TINY = ["policy.n_envs=2", "+workload_params.seq.n_pages=32",
         "+workload_params.random.n_pages=32", "+workload_params.random.writes=32",
         "+workload_params.stride.n_pages=32"]
_TINY_ALGO = {"ppo": ["policy=ppo", "policy.kwargs.n_steps=64", "policy.kwargs.batch_size=64"],
              "dqn": ["policy=dqn", "policy.kwargs.learning_starts=64"]}


def _curve_rows(out: Path) -> list[dict[str, str]]:
    import csv

    with (out / "curve.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _stop_at_checkpoint_save(monkeypatch) -> None:
    """train.py stopped as it saves checkpoint.sb3.zip (after the episodes it logged)."""
    import cowrl.training.sb3 as sb3

    real = sb3.save_model_atomic

    def stopped(model, path: Path) -> Path:
        if path.name == sb3.CKPT_FILE:
            raise KeyboardInterrupt
        return real(model, path)

    monkeypatch.setattr(sb3, "save_model_atomic", stopped)


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_resumed_sb3_run_keeps_the_whole_curve(compose_cfg, tmp_path: Path, monkeypatch,
                                                 algo: str) -> None:
    """SB3's VecMonitor truncated monitor.monitor.csv at every start, so a resumed PPO/DQN
    run's curve.csv held only the episodes since the resume. Now it holds the episodes before
    the checkpoint and after, with their steps (num_timesteps at the episode's end) going on;
    episodes logged after the last checkpoint save by a run that stopped are dropped (the
    resumed run steps from the checkpoint again and logs its own)."""
    out = tmp_path / algo
    args = [*_TINY, *_TINY_ALGO[algo]]
    train(_cfg(compose_cfg, out, *args, "timesteps=128"))
    first = _curve_rows(out)
    assert first and all(0 < int(r["steps"]) <= 128 for r in first)
    with pytest.raises(KeyboardInterrupt):  # logged episodes to step 256, checkpoint at 128
        with monkeypatch.context() as m:
            _stop_at_checkpoint_save(m)
            train(_cfg(compose_cfg, out, *args, "timesteps=256"))
    assert _curve_rows(out) == first
    mon = (out / "monitor.monitor.csv").read_text().splitlines()
    assert mon[1] == "r,l,t,steps" and int(mon[-1].rsplit(",", 1)[1]) > 128
    res = train(_cfg(compose_cfg, out, *args, "timesteps=384"))
    curve = _curve_rows(out)
    assert curve[:len(first)] == first  # the episodes before the resume, as they were
    steps = [int(r["steps"]) for r in curve]
    assert len(curve) > len(first) and steps == sorted(steps) and steps[-1] <= 384
    assert steps[-1] > 256  # the resumed run's own episodes, to its end
    assert [int(r["episode"]) for r in curve] == list(range(1, len(curve) + 1))
    walls = [float(r["wall_s"]) for r in curve]
    assert walls == sorted(walls)
    assert len(res["curve"]) == len(curve)
    assert read_artifact(out)["training"]["timesteps"] == 384
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".monitor.csv")) == \
        ["monitor.monitor.csv"]


def test_an_interrupted_sb3_retrain_keeps_the_old_monitor_and_curve(compose_cfg, tmp_path: Path,
                                                                    monkeypatch) -> None:
    """resume=false into an out= holding a finished PPO run truncated its monitor file at the
    start. The new run's monitor file now replaces it at the new run's first checkpoint save
    (with curve.csv, rewritten whole): stopped before it, out= keeps the old run's checkpoint,
    monitor file and curve, which a resume carries on; stopped between the checkpoint's save
    and the monitor file's move, a resume finds the new run's episodes all the same."""
    import os

    import cowrl.training.sb3 as sb3

    out = tmp_path / "p"
    args = [*_TINY, *_TINY_ALGO["ppo"]]
    train(_cfg(compose_cfg, out, *args, "timesteps=128"))
    old = {f: (out / f).read_bytes() for f in ("monitor.monitor.csv", "curve.csv",
                                                "checkpoint.sb3.zip")}
    with pytest.raises(KeyboardInterrupt):
        with monkeypatch.context() as m:
            _stop_at_checkpoint_save(m)
            train(_cfg(compose_cfg, out, *args, "timesteps=128", "resume=false", "seed=1"))
    assert {f: (out / f).read_bytes() for f in old} == old
    real = os.replace

    def stopped(src, dst):  # after the checkpoint's save, before the monitor file's move
        if Path(src).name == sb3.PENDING_MONITOR:
            raise KeyboardInterrupt
        return real(src, dst)

    with pytest.raises(KeyboardInterrupt):
        with monkeypatch.context() as m:
            m.setattr(sb3.os, "replace", stopped)
            train(_cfg(compose_cfg, out, *args, "timesteps=128", "resume=false", "seed=1"))
    assert (out / "checkpoint.sb3.zip").read_bytes() != old["checkpoint.sb3.zip"]
    new_rows = (out / sb3.PENDING_MONITOR).read_text().splitlines()[2:]
    assert new_rows and (out / "curve.csv").read_bytes() == old["curve.csv"]
    train(_cfg(compose_cfg, out, *args, "timesteps=256", "seed=1"))  # resumes the new run
    mon = (out / "monitor.monitor.csv").read_text().splitlines()[2:]
    assert mon[:len(new_rows)] == new_rows and len(mon) > len(new_rows)
    assert len(_curve_rows(out)) == len(mon)
    assert not (out / sb3.PENDING_MONITOR).exists()


def test_an_sb3_checkpoint_naming_no_monitor_file_resumes_with_a_fresh_curve(
        compose_cfg, tmp_path: Path, caplog) -> None:
    """A checkpoint.sb3.zip saved before 2026-12-04 names no monitor file (and SB3's file then
    had no steps column): the resume warns and its curve starts at the checkpoint's step."""
    import zipfile

    out = tmp_path / "p"
    args = [*_TINY, *_TINY_ALGO["ppo"]]
    train(_cfg(compose_cfg, out, *args, "timesteps=128"))
    ckpt = out / "checkpoint.sb3.zip"
    with zipfile.ZipFile(ckpt) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    data = json.loads(entries["data"])
    data.pop("cowrl_monitor_t_start")
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(ckpt, "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    mon = out / "monitor.monitor.csv"
    lines = mon.read_text().splitlines()  # as SB3 wrote it before: no steps column
    mon.write_text("\n".join([lines[0], "r,l,t", *(r.rsplit(",", 1)[0] for r in lines[2:])]))
    caplog.set_level("INFO")
    train(_cfg(compose_cfg, out, *args, "timesteps=256"))
    assert f"resume: no monitor file of checkpoint.sb3.zip's run in {out}" in caplog.text
    steps = [int(r["steps"]) for r in _curve_rows(out)]
    assert steps and steps == sorted(steps) and 128 < steps[0] and steps[-1] <= 256
    assert mon.read_text().splitlines()[1] == "r,l,t,steps"
