"""``python -m workbench.cli.train_child ARGS``: ``workbench train ARGS`` as a trial's child process.

The same command, except that it dies with the worker that started it (Linux), so a
killed study leaves no trainer writing into a trial nobody will tell.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco's GL


def main(argv: list[str] | None = None) -> int:
    from studies.processes import die_with_parent

    die_with_parent()
    from workbench.cli import main as workbench

    return workbench(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
