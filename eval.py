"""Evaluate precopy policies side by side: ``python eval.py target=sim|kernel``."""

import sys

import hydra
from omegaconf import DictConfig

from cowrl.cli import check_overrides, run_cli
from cowrl.evaluate import evaluate, register_configs


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    run_cli(evaluate, cfg)


if __name__ == "__main__":
    register_configs()
    check_overrides("eval", sys.argv[1:])
    main()
