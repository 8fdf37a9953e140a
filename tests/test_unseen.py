"""data/unseen: programs recorded with app=command that no learner ever trains on.

Their figures (docs/traces.md, "Programs the project has never seen") are honest only while
no training path reaches them: not the recorded corpus (data/traces, corpus_dir), not a
workload entry, not a script's corpus glob.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from cowrl.traces.io import load_trace

ROOT = Path(__file__).resolve().parent.parent
UNSEEN = ROOT / "data/unseen"
NAMES = ["python_pool", "bash_array", "python_counter", "numpy_columns", "python_sort",
         "numpy_scatter", "python_heapify", "perl_hash_grow", "python_bytes_translate",
         "python_array_reverse", "perl_tr_sparse", "perl_sort_numeric", "python_json_update",
         "bash_assoc", "python_insort", "numpy_column_stride", "python_dict_append",
         "numpy_tile_transpose", "numpy_csr_rows", "numpy_delete_compact", "python_kway_merge",
         "numpy_triu_zero", "python_freed_reuse", "numpy_shuffle", "numpy_cumsum_rows",
         "python_list_delete", "perl_splice_mid", "python_sqlite_update",
         "python_record_headers", "python_gc_collect", "numpy_sort_inplace",
         "numpy_matmul_out", "perl_hash_delete", "python_set_discard",
         "numpy_redblack_sweep", "python_refcount_walk", "numpy_histogram_addat",
         "perl_string_subst", "numpy_tile_update", "python_bucket_partition",
         "numpy_random_walk", "numpy_scatter_then_scale", "python_list_rebind",
         "numpy_bitrev_permute", "numpy_struct_field", "numpy_mask_dropouts",
         "perl_hash_sorted_incr", "bash_fork_exec", "python_snapshot_parent",
         "python_fork_quicksort", "perl_map_replace", "python_threads_fork",
         "bash_recursion_stack"]
# writers that fault in the window, where not the command and its 4 workers
WRITERS = {"bash_fork_exec": 100, "python_snapshot_parent": 2, "python_fork_quicksort": 7,
           "python_threads_fork": 2}


def test_unseen_list_is_every_trace_there() -> None:
    assert sorted(NAMES) == sorted(f.stem for f in UNSEEN.glob("*.npz"))
    assert (UNSEEN / "README.md").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_unseen_trace_loads_with_provenance(name: str) -> None:
    info = json.loads((UNSEEN / f"{name}.json").read_text())
    prov = info["provenance"]
    assert prov["app"] == "command" and prov["dropped"] == 0 and prov["nmissed"] == 0
    t = load_trace(UNSEEN / f"{name}.npz")
    assert t.writes == info["stats"]["writes"] and t.name == name
    assert t.t_ns is not None and np.all(np.diff(t.t_ns) >= 0)
    assert np.unique(t.writer).size == WRITERS.get(name, 5)


def test_no_training_path_reaches_the_unseen_traces(compose_cfg) -> None:
    from cowrl.generalization import app_traces

    # the recorded corpus every learner trains on (guarded's tables, the bandit's
    # train_workloads, generalization.py's corpus_dir) is data/traces, without them
    corpus_dir = OmegaConf.load(ROOT / "conf/generalization.yaml").corpus_dir
    files = [f.resolve() for fs in app_traces(ROOT / corpus_dir).values() for f in fs]
    assert files and not any(UNSEEN.resolve() in f.parents for f in files)
    assert not {f.stem for f in files} & set(NAMES)
    # no workload entry names them (train.py's workloads, the bandit's train_workloads)
    for f in (ROOT / "conf/workload").glob("*.yaml"):
        assert f.stem not in NAMES and "data/unseen" not in f.read_text(), f
    for name in ("bandit", "guarded"):
        train = compose_cfg("train", [f"policy={name}"])
        assert not set(train.workloads) & set(NAMES)
    # nothing of the project's code or configs names the directory (only the docs do)
    for d in ("conf", "cowrl", "experiments"):
        for f in (ROOT / d).rglob("*"):
            if f.suffix in (".py", ".yaml", ".sh", ".pl"):
                assert "data/unseen" not in f.read_text(), f


def test_readme_command_lines_are_the_recorded_ones() -> None:
    """Each command line data/unseen/README.md gives reproduces its trace's recorded argv."""
    import re
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    readme = (UNSEEN / "README.md").read_text()
    blocks = dict(re.findall(r"`(\w+)`:\n```\n(.*?)\n```", readme, re.S))
    assert sorted(blocks) == sorted(NAMES)
    for name, block in blocks.items():
        args = shlex.split(block.split("  #")[0].replace("\\\n", " "))
        assert args[:3] == ["python", "record.py", "app=command"], name
        assert f"app.trace_name={name}" in args, name
        (argv,) = [a for a in args if a.startswith("app.argv=")]
        recorded = json.loads((UNSEEN / f"{name}.json").read_text())["provenance"]["command"]
        assert parser.parse_override(argv).value() == recorded, name
