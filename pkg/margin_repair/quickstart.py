"""``python -m margin_repair.quickstart``: the study on real EMNIST if this machine has it, else on synthetic data.

EMNIST is looked for as the DATA stage looks for it ($EMNIST_DATA_DIR, then a ``gzip/`` folder in
the working directory or above). Without it the study runs on the synthetic EMNIST-format set,
and every stage says so. Other arguments go to ``runlab submit`` (``--profile``, ``--runs_root`` ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from runlab import ConfigError, cli

from .emnist import SplitFiles, find_data_dir, require_files
from .synthetic import SYNTHETIC_LABEL

__all__ = ["choose_config", "main"]


def choose_config(configs: Path, split: str = "digits") -> tuple[Path, str]:
    """The config to run and a line that says why: ``emnist.yaml`` if the split is found, else ``synthetic.yaml``."""
    try:
        folder, found_by = find_data_dir(None, Path.cwd(), os.environ)
        require_files(folder, SplitFiles(split))
    except ConfigError as exc:
        return configs / "synthetic.yaml", f"EMNIST not found ({exc.message}): running on {SYNTHETIC_LABEL}"
    return configs / "emnist.yaml", f"EMNIST {split} found in {folder} ({found_by})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m margin_repair.quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("jobs/margin_repair.yaml"))
    args, submit_args = parser.parse_known_args(argv)
    config, reason = choose_config(args.manifest.resolve().parent.parent / "configs" / "margin_repair")
    print(f"margin_repair quickstart: {reason}", flush=True)
    return cli.main(["submit", str(args.manifest), "--config", str(config), *submit_args])


if __name__ == "__main__":
    sys.exit(main())
