"""Evaluate precopy policies side by side: ``python eval.py target=sim|kernel``."""

import hydra
from omegaconf import DictConfig

from cowrl.cli import run_cli
from cowrl.evaluate import evaluate


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    run_cli(evaluate, cfg)


if __name__ == "__main__":
    main()
