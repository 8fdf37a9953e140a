"""Leave one family (or application) out, train, test, report: ``python
experiments/generalization.py -m`` (see conf/generalization.yaml).

``eval.py`` compares trained artifacts; this protocol must train once per held-out set and
seed, so it is its own Hydra entry over the same config groups. With ``report=DIR`` it only
gathers the jobs already under DIR into one report.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.cli import check_overrides, run_cli  # noqa: E402
from cowrl.generalization import report, report_of, run_job  # noqa: E402


def _job(cfg: DictConfig) -> dict:
    with open_dict(cfg):
        if not cfg.get("out"):
            from hydra.core.hydra_config import HydraConfig

            cfg.out = HydraConfig.get().runtime.output_dir
        if cfg.get("report"):
            text = report_of(cfg.report)
            print(text)
            return {"report": text}
    job = run_job(cfg)
    if "rows" in job:
        print(report([job]))
    else:  # a held-out set absent here: said, not silent (a sweep's report lists it too)
        print(f"holdout={job['holdout']}: skipped, {job['skipped']}", file=sys.stderr)
    return job


@hydra.main(version_base="1.3", config_path="../conf", config_name="generalization")
def main(cfg: DictConfig) -> None:
    run_cli(_job, cfg)


if __name__ == "__main__":
    check_overrides("generalization", sys.argv[1:])
    main()
