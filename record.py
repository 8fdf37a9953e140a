"""Record a real program's COW faults in the guest kernel: ``python record.py app=NAME out=DIR``."""

import sys

import hydra
from omegaconf import DictConfig

from cowrl.cli import check_overrides, run_cli
from cowrl.record.recorder import record


@hydra.main(version_base="1.3", config_path="conf", config_name="record")
def main(cfg: DictConfig) -> None:
    run_cli(record, cfg)


if __name__ == "__main__":
    check_overrides("record", sys.argv[1:])  # an unknown app or field is one line, not Hydra's
    main()
