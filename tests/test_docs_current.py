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
