"""Policy artifacts: ``DIR/policy.json``, versioned and self-describing, plus "latest" pointers.

An artifact is one JSON object::

    {"format": "cowrl-policy", "version": 1,
     "name": "bandit",            # the policy's config name: its row name in eval
     "kind": "table" | "readahead" | "static" | "sb3" | "guarded",   # a key of ARTIFACT_KINDS
     "policy": {...},             # what is needed to rebuild the deployable policy
     "learner": {...} | null,     # learner class, parameters and state (to resume)
     "training": {...},           # rounds done, seed, wall time, final metrics
     "config": {...},             # the full config that produced it
     "created": "ISO time", "cowrl_version": "0.1.0"}

``kind == "sb3"`` keeps the stable-baselines3 model in ``policy.sb3.zip``
next to the JSON (SB3's own format) and names it under ``policy.model``.

``train.py`` also writes ``<latest_dir>/<name>.json`` = ``{"path": ...}``,
which ``eval.py`` reads to find the newest artifact per policy name.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

from cowrl.errors import ConfigError
from cowrl.policies.base import Policy

FORMAT = "cowrl-policy"
VERSION = 1
ARTIFACT_NAME = "policy.json"


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` at ``path``, whole or not at all: stopped part-way, the file there before
    stays, and no temporary file is left beside it (artifacts, pointers, curve.csv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, obj: Any) -> None:
    """``obj`` as JSON at ``path``, whole or not at all (:func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(obj, indent=1))


def save_artifact(path: Path, name: str, kind: str, policy: dict[str, Any],
                  config: dict[str, Any], learner: dict[str, Any] | None = None,
                  training: dict[str, Any] | None = None) -> Path:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("cowrl")
    except PackageNotFoundError:  # pragma: no cover
        ver = "unknown"
    write_json_atomic(path, {
        "format": FORMAT, "version": VERSION, "name": name, "kind": kind, "policy": policy,
        "learner": learner, "training": training or {}, "config": config,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cowrl_version": ver,
    })
    return path


def read_artifact(path: str | Path, field: str = "checkpoints") -> dict[str, Any]:
    """The artifact at ``path`` (a ``policy.json`` or its directory), checked, or a one-line
    ConfigError naming ``field`` (the config field that gave the path) and the file."""
    p = Path(path)
    if p.is_dir():
        p = p / ARTIFACT_NAME
    if not p.is_file():
        hint = ""
        if any((p.parent / c).is_file() for c in ("checkpoint.json", "checkpoint.sb3.zip")):
            hint = (" (training there did not finish; the same train.py command with "
                    f"out={p.parent} resumes it)")
        raise ConfigError(f"{field}: no policy artifact at {p}{hint}")
    try:
        art = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{field}: {p} is not a readable artifact ({e})") from None
    if not isinstance(art, dict) or art.get("format") != FORMAT:
        raise ConfigError(f"{field}: {p} is not a cowrl policy artifact")
    if art.get("version") != VERSION:
        raise ConfigError(f"{field}: {p} has artifact version {art.get('version')}, "
                          f"this cowrl reads version {VERSION}")
    for key, kind in (("name", str), ("kind", str), ("policy", dict)):
        if not isinstance(art.get(key), kind):
            raise ConfigError(f"{field}: {p}: field {key!r} is missing or not a "
                              f"{'JSON object' if kind is dict else 'string'}")
    art["_path"] = str(p.resolve())
    art["_field"] = field
    return art


# Artifact kinds: kind -> "module:Class"; the class rebuilds the deployable policy with
# ``Class.from_artifact(spec, name, directory)``. Strings, so reading an artifact imports
# only the class it needs (an sb3 artifact imports torch, a table one does not).
ARTIFACT_KINDS: dict[str, str] = {
    "table": "cowrl.policies.table:TablePolicy",
    "readahead": "cowrl.policies.readahead:Readahead",
    "static": "cowrl.policies.static:StaticPrecopy",
    "sb3": "cowrl.policies.sb3:SB3Policy",
    "guarded": "cowrl.policies.guarded:GuardedPolicy",
}


def register_artifact_kind(kind: str, target: str) -> None:
    """Make ``kind`` loadable: ``target`` is ``"module:Class"`` with a ``from_artifact``."""
    ARTIFACT_KINDS[kind] = target


def policy_from_artifact(art: dict[str, Any], name: str | None = None) -> Policy:
    """The deployable policy an artifact describes, named ``name`` (default: its own); a
    field it lacks or holds malformed is a one-line ConfigError naming the file."""
    kind = art["kind"]
    where = f"{art.get('_field', 'checkpoints')}: {art.get('_path')}"
    target = ARTIFACT_KINDS.get(kind)
    if target is None:
        raise ConfigError(f"{where}: unknown artifact kind {kind!r} "
                          f"(known: {', '.join(sorted(ARTIFACT_KINDS))})")
    module, cls = target.split(":")
    policy_cls = getattr(importlib.import_module(module), cls)
    try:
        return policy_cls.from_artifact(art["policy"], name or art["name"],
                                        Path(art["_path"]).parent)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except KeyError as e:  # a field of its kind missing: another format, or hand-edited
        raise ConfigError(f"{where}: policy.{e.args[0]} is missing (a {kind!r} artifact of "
                          "another cowrl version?)") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: the {kind!r} policy it holds is malformed ({e})"
                          ) from None


def load_policy(path: str | Path, name: str | None = None, field: str = "checkpoints"
                ) -> Policy:
    return policy_from_artifact(read_artifact(path, field), name)


def latest_pointer(latest_dir: str | Path, name: str) -> Path:
    return Path(latest_dir) / f"{name}.json"


def set_latest(latest_dir: str | Path, name: str, artifact: Path) -> Path:
    p = latest_pointer(latest_dir, name)
    write_json_atomic(p, {"name": name, "path": str(Path(artifact).resolve())})
    return p


def find_latest(latest_dir: str | Path, name: str) -> Path | None:
    """The newest artifact trained for policy ``name``, or None (:func:`latest_broken` says
    why, when a pointer is there)."""
    p = latest_pointer(latest_dir, name)
    if not p.is_file():
        return None
    try:
        target = Path(json.loads(p.read_text())["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return target if target.is_file() else None


def latest_broken(latest_dir: str | Path, name: str) -> str | None:
    """Why ``<latest_dir>/<name>.json`` leads to no artifact (``FILE: reason``), or None when
    there is no such pointer or it leads to one."""
    p = latest_pointer(latest_dir, name)
    if not p.is_file() or find_latest(latest_dir, name) is not None:
        return None
    try:
        target = json.loads(p.read_text())["path"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{p}: not a latest pointer ({type(e).__name__}: {e})"
    return f"{p}: points at {target}, which is not a file"
