"""Train an adaptive precopy policy in the simulator: ``python train.py policy=bandit``."""

import sys

import hydra
from omegaconf import DictConfig

from cowrl.cli import check_overrides, run_cli
from cowrl.training import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    run_cli(train, cfg)


if __name__ == "__main__":
    check_overrides("train", sys.argv[1:])
    main()
