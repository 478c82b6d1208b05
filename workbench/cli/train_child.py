"""``python -m workbench.cli.train_child ARGS``: ``workbench train ARGS`` as a trial's child process.

The same command, except that it dies with the worker that started it (Linux), so a
killed study leaves no trainer writing into a trial nobody will tell. With ``--continue``
(``--run RUN --json --continue``) it continues RUN from its config.json with the lockstep
collector process beside it: a warm-started trial (``workbench.training.warm_start``).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco's GL


def main(argv: list[str] | None = None) -> int:
    from studies.processes import die_with_parent

    die_with_parent()
    argv = sys.argv[1:] if argv is None else argv
    if "--continue" in argv:
        import json

        from workbench.training.pipeline import train_with_collector

        summary = train_with_collector(argv[argv.index("--run") + 1], {}, 0, 0)
        print(json.dumps(summary, default=str))
        return 0
    from workbench.cli import main as workbench

    return workbench(["train", *argv])


if __name__ == "__main__":
    sys.exit(main())
