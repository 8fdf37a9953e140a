"""experiments/novel_patterns.py: every builder makes a valid, seeded trace, and the audit's
main path measures the audited policies on two tiny traces."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_experiment

from cowrl.errors import ConfigError
from cowrl.traces.generators import FAMILIES


@pytest.fixture(scope="module")
def nov():
    return load_experiment("novel_patterns")


def test_builders_make_valid_seeded_traces(nov) -> None:
    assert 10 <= len(nov.BUILDERS) <= 14
    assert not set(nov.BUILDERS) & set(FAMILIES)
    for name in nov.BUILDERS:
        t = nov.build(name, 0, n_pages=64)
        assert t.name == f"{name}_0" and t.writes >= 1, name
        assert 0 <= int(t.pages.min()) and int(t.pages.max()) < t.n_pages, name
        if t.region_sizes is not None:
            assert int(t.region_sizes.sum()) == t.n_pages, name
        else:
            assert t.n_pages == 64, name
        again = nov.build(name, 0, n_pages=64)
        assert np.array_equal(t.pages, again.pages), f"{name}: not deterministic"
        assert not np.array_equal(t.pages, nov.build(name, 1, n_pages=200).pages), name
    with pytest.raises(ConfigError, match="--patterns"):
        nov.build("no_such_pattern", 0)


def test_main_measures_two_tiny_traces(nov, capsys) -> None:
    out = nov.main(["--patterns", "stride2_records,ring_log", "--draws", "1", "--n-pages",
                    "96", "--costmodels", "seed_table1", "--no-progress",
                    "--variants", '{"proof_ttl": 0}'])
    rows = out["seed_table1"]
    assert {r["trace"] for r in rows} == {"stride2_records_0", "ring_log_0"}
    pols = {r["policy"] for r in rows}
    assert pols == {"baseline", "guarded", "readahead", "guarded[proof_ttl=0]", "precopy_best",
                    "oracle"}
    for r in rows:
        if r["policy"] == "baseline":
            assert r["ratio"] == pytest.approx(1.0)
        assert r["oracle_ratio"] <= r["best_ratio"] + 1e-9 <= 1.0 + 1e-9
        if r["policy"] == "guarded":  # its loss bound: within the 1% allowance
            assert r["ratio"] <= nov.SAFETY, r
    text = capsys.readouterr().out
    assert "| guarded |" in text and "stride2_records_0" in text


def test_variant_names_an_unknown_key(nov) -> None:
    with pytest.raises(ConfigError, match="no_such_key"):
        nov.variant({"no_such_key": 1})
