"""Calibrate the COW cost model: ``python calibrate.py target=host|kernel [name=NAME]``."""

import sys

import hydra
from omegaconf import DictConfig

from cowrl.calibration import calibrate
from cowrl.cli import check_overrides, run_cli


@hydra.main(version_base="1.3", config_path="conf", config_name="calibrate")
def main(cfg: DictConfig) -> None:
    run_cli(calibrate, cfg)


if __name__ == "__main__":
    check_overrides("calibrate", sys.argv[1:])
    main()
