"""What README.md and docs/kernel.md state as the current state of the module agrees with the
source: the ABI version they name is the uapi header's ``COWRL_ABI_VERSION`` (a bumped ABI
left README's "v11" and kernel.md's "ABI v10" behind four versions)."""

from __future__ import annotations

import re
from pathlib import Path

from cowrl.kernel.abi import load_abi

ROOT = Path(__file__).resolve().parent.parent

# (file, pattern of a sentence that states the module's current ABI version)
CURRENT_ABI = (
    ("README.md", r"The ioctl ABI \(`kernel_module/cowrl_uapi\.h`, v(\d+);"),
    ("docs/kernel.md", r"`kernel_module/cowrl\.c` \(ABI v(\d+)\) is meant to be loadable"),
    ("docs/kernel.md", r"### ABI \(`kernel_module/cowrl_uapi\.h`, `COWRL_ABI_VERSION (\d+)`\)"),
)


def test_the_docs_name_the_current_abi_version() -> None:
    version = load_abi().version
    for name, pattern in CURRENT_ABI:
        found = re.findall(pattern, (ROOT / name).read_text())
        assert len(found) == 1, f"{name}: {pattern!r} matches {len(found)} times"
        assert int(found[0]) == version, f"{name} names ABI {found[0]}, the header {version}"


_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}


def _count(text: str) -> int:
    """``47``, ``forty-seven`` or ``Fourteen`` as a number."""
    if text.isdigit():
        return int(text)
    tens, _, ones = text.lower().partition("-")
    return _TENS[tens] + _WORDS[ones] if tens in _TENS else _WORDS[tens]


# (file, pattern of a sentence that states how many traces a directory holds now, directory)
CURRENT_COUNTS = (
    ("README.md", r"; ([\w-]+) programs recorded that way are a test set", "data/unseen"),
    ("docs/traces.md", r"\n([\w-]+) programs recorded with `app=command`", "data/unseen"),
    ("data/unseen/README.md", r"COW fault streams of ([\w-]+) programs", "data/unseen"),
    ("README.md", r"# all ([\w-]+) recorded traces \(sim\)", "data/traces"),
    ("docs/traces.md", r"\n([\w-]+) traces of six applications", "data/traces"),
)


def test_the_docs_count_the_traces_there_are() -> None:
    """README's "thirty-nine programs recorded that way" stood while data/unseen/ grew to 47
    (found in session 44's walk-through)."""
    for name, pattern, folder in CURRENT_COUNTS:
        found = re.findall(pattern, (ROOT / name).read_text())
        assert len(found) == 1, f"{name}: {pattern!r} matches {len(found)} times"
        there = len(list((ROOT / folder).glob("*.npz")))
        assert _count(found[0]) == there, f"{name} says {found[0]}, {folder} holds {there}"
