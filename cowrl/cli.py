"""Entry-script glue: user errors become one line on stderr and exit status 2."""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml
from omegaconf import DictConfig, OmegaConf

from cowrl.confdir import CONF_DIR
from cowrl.errors import ConfigError, CowrlError, yaml_error


def run_cli(fn: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    try:
        return fn(cfg)
    except CowrlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def run_script(main: Callable[[], Any]) -> NoReturn:
    """``sys.exit(main())`` for a script (``experiments/*.py``): a user error (CowrlError)
    becomes one line on stderr and exit status 2, as in the entry scripts. ``main`` returns
    its exit status (an int; None = 0) or its results for a caller, which exit 0: handed to
    ``sys.exit`` they were printed on stderr and the status was 1."""
    try:
        rc = main()
    except CowrlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(rc if isinstance(rc, int) and not isinstance(rc, bool) else 0)


def output_dir(path: str | Path, field: str = "out") -> Path:
    """``path`` created and writable, checked before a run spends its time, or a one-line
    ConfigError naming ``field``."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{field}: cannot create {out} ({e.strerror or e})") from None
    try:  # a probe file: permissions alone say nothing for root or a read-only mount
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ConfigError(f"{field}: cannot write in {out} ({e.strerror or e})") from None
    return out


def check_choices(argv: Sequence[str], conf_dir: Path | None = None) -> None:
    """Exit with one line (status 2) if ``GROUP=NAME`` names no ``conf/GROUP/NAME.yaml``.

    Hydra's own error for an unknown option of a config group spans many lines
    (the search path and how to get a stack trace); call this before
    ``@hydra.main`` runs. Options of a multirun (``a,b``) are checked one by one.
    """
    conf = conf_dir or CONF_DIR
    for arg in argv:
        key, eq, value = arg.partition("=")
        key = key.lstrip("+~")
        if not eq or not key or "." in key or "/" in key or key.startswith("-"):
            continue
        group = conf / key
        if not group.is_dir():
            continue
        for name in value.split(","):
            if not name or name == "null":
                continue
            if not (group / f"{name}.yaml").is_file():
                from cowrl.registry import RETIRED

                if (key, name) in RETIRED:
                    print(f"error: {key}: {key} {name!r} is gone: {RETIRED[key, name]}",
                          file=sys.stderr)
                    sys.exit(2)
                known = ", ".join(sorted(p.stem for p in group.glob("*.yaml")))
                print(f"error: {key}: unknown {key} {name!r} (available: {known})",
                      file=sys.stderr)
                sys.exit(2)
            try:  # a hand-edited file that is no YAML: Hydra's report is a traceback
                OmegaConf.load(group / f"{name}.yaml")
            except yaml.YAMLError as e:
                print(f"error: {yaml_error(e, key)}", file=sys.stderr)
                sys.exit(2)


KERNEL_RELEASES = {"6.1": "auto", "6.12": "6.12"}
"""The kernels the experiments boot, by short name -> ``kernel.kernel_release``: Debian 12's
6.1 (the installed headers, ``auto``) and Debian 13's 6.12 (fetched)."""


def kernel_releases(text: str, field: str = "--releases") -> list[str]:
    """``6.1,6.12`` as a list of names, each a key of :data:`KERNEL_RELEASES`, or a one-line
    ConfigError naming ``field`` (before any boot)."""
    names = [r for r in str(text).split(",") if r]
    bad = [r for r in names if r not in KERNEL_RELEASES] or ([] if names else [str(text)])
    if bad:
        raise ConfigError(f"{field}: unknown release {bad[0]!r} "
                          f"(known: {', '.join(KERNEL_RELEASES)})")
    return names


VERSION_FIELDS = ("release", "kernel_release")
"""Fields whose value is a version's text (kernel.release=6.12), which Hydra reads as a number."""


def check_versions(argv: Sequence[str]) -> None:
    """Exit with one line (status 2) for a version Hydra would change into another:
    ``kernel.release=6.10`` is the float 6.1 (Linux 6.1, silently). Quoted, it stays text."""
    for arg in argv:
        key, eq, value = arg.lstrip("+~").partition("=")
        if (eq and key.rsplit(".", 1)[-1] in VERSION_FIELDS and re.fullmatch(r"\d+\.\d+", value)
                and str(float(value)) != value):
            print(f"error: {key}={value}: Hydra reads {value} as the number {float(value)}; "
                  f"quote it: \"{key}='{value}'\"", file=sys.stderr)
            sys.exit(2)


# Another script's spelling of a field this config names otherwise
# (generalization.py policies=[x] means learners=[x]).
_ALIASES = {"policies": "learners", "policy": "learners"}


def _global_keys(conf: Path, config_name: str) -> set[str]:
    """Top-level keys a ``# @package _global_`` option of a group in the config's defaults
    (eval.py experiment=real) may add."""
    keys: set[str] = set()
    defaults = (conf / f"{config_name}.yaml").read_text()
    for f in conf.glob("*/*.yaml"):
        text = f.read_text()
        if text.startswith("# @package _global_") and f"\n  - {f.parent.name}:" in defaults:
            keys |= {ln.split(":", 1)[0] for ln in text.splitlines()
                     if ln[:1].isalpha() and ":" in ln}
    return keys


def _no_field(config_name: str, conf: Path, key: str, given: str, fallback: str) -> str:
    """``KEY: no such field here (...)``: the config's own spelling of ``given`` when it has
    one (train.py's policy=NAME for policies=[NAME], generalization.py's learners=[...]),
    else ``fallback``."""
    text = (conf / f"{config_name}.yaml").read_text()
    names = given.partition("=")[2].strip("[]") or "NAME"
    alias = _ALIASES.get(key)
    if alias and f"\n{alias}:" in text:
        return f"{key}: no such field here ({config_name}.py takes a list: {alias}=[{names}])"
    one = next((g for g in (key[:-1], f"{key[:-3]}y") if key.endswith("s") and g
                and f"\n  - {g}:" in text), None)
    if one:
        sweep = f"; several: -m {one}={names}" if "," in names else ""
        return (f"{key}: no such field here ({config_name}.py takes one: "
                f"{one}={names.split(',')[0]}{sweep})")
    return f"{key}: no such field here ({fallback})"


def check_overrides(config_name: str, argv: Sequence[str], conf_dir: Path | None = None) -> None:
    """Exit with one line (status 2) if Hydra cannot apply the command line's overrides.

    Composes the config once with the overrides, as ``@hydra.main`` is about to;
    an unknown group option or a key the config does not have (``target.sigma=1``
    on a target without ``sigma``) becomes ``error: FIELD: ...`` instead of
    Hydra's multi-line report. Anything else is left to ``@hydra.main``.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException, OverrideParseException

    check_choices(argv, conf_dir)
    check_versions(argv)
    if any(a in ("-m", "--multirun") or a.startswith("--") for a in argv):
        return  # sweeps and Hydra's own flags (--cfg, --help...): @hydra.main's to handle
    conf = conf_dir or CONF_DIR
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            compose(config_name=config_name, overrides=overrides)
            # +policies=[x]: Hydra adds a key the script never reads, which then runs its
            # defaults (train.py trained the bandit); +workload_params.x=... stays legitimate
            added = {a.lstrip("+").split("=", 1)[0].split(".")[0]: a.lstrip("+")
                     for a in overrides if a.startswith("+") and "=" in a}
            if added:
                base = compose(config_name=config_name,
                               overrides=[a for a in overrides if not a.startswith("+")])
                known = {*base, "hydra", *_global_keys(conf, config_name)}
                new = [k for k in added if k not in known and not (conf / k).is_dir()]
                if new:
                    msg = _no_field(config_name, conf, new[0], added[new[0]],
                                    f"{config_name}.py never reads it")
                    print(f"error: {msg}", file=sys.stderr)
                    sys.exit(2)
    except HydraException as e:
        key = getattr(e.__cause__, "full_key", None)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if key:
            given = next((a for a in overrides
                          if f"{a.split('=', 1)[0]}.".startswith(f"{key}.")), f"{key}=VALUE")
            # a '+' helps only where the script reads what it adds: nested keys
            # (workload_params.NAME.x) and the keys an experiment option adds
            plus = "." in key or key in _global_keys(conf, config_name)
            msg = _no_field(config_name, conf, key, given,
                            f"'+{given}' would add one" if plus
                            else f"{config_name}.py never reads it")
        elif isinstance(e, OverrideParseException):
            lines = str(e).splitlines()
            col = lines[1].find("^") if len(lines) > 1 else -1
            at = f" (at {first[col]!r}: quote such a value inside the override, e.g. " \
                 "\"traces=['~/a.npy']\")" if 0 <= col < len(first) else ""
            msg = f"cannot parse the command line: {first}{at}"
        else:
            msg = first
            # policy=guarded where eval.py takes policies=[...]: say so
            group = first.split("'")[1] if first.startswith("Could not override '") else ""
            value = next((a.split("=", 1)[1] for a in overrides
                          if a.startswith(f"{group}=")), "") if group else ""
            text = (conf / f"{config_name}.yaml").read_text() if value else ""
            lists = [k for k in (f"{group}s", f"{group[:-1]}ies", _ALIASES.get(group))
                     if k and f"\n{k}:" in text]
            if lists:
                msg += f" ({config_name}.py takes a list: {lists[0]}=[{value}])"
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except yaml.YAMLError as e:  # a hand-edited conf/GROUP/NAME.yaml: Hydra prints a traceback
        mark = getattr(e, "problem_mark", None)
        print(f"error: {yaml_error(e, Path(mark.name).parent.name if mark else config_name)}",
              file=sys.stderr)
        sys.exit(2)
    except Exception:  # noqa: BLE001, S110 - @hydra.main reports whatever else it finds
        pass
