"""A worker process of ``workbench study run --workers N``: ``python -m studies.worker FILE --storage URL``.

It reads the study file, joins the study in the storage and runs trials until the
shared budget is spent (``studies.runner.work``). It dies with the process that
started it (Linux), leaving its running trial to be marked failed by the next worker.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco's GL


def main(argv: list[str] | None = None) -> int:
    from studies.processes import die_with_parent

    die_with_parent()
    parser = argparse.ArgumentParser(prog="python -m studies.worker")
    parser.add_argument("file", help="the study file")
    parser.add_argument("--storage", required=True, help="the study's storage URL")
    parser.add_argument("--index", type=int, default=0, help="this worker's index (it picks the sampler seed)")
    parser.add_argument("--minutes", type=float, required=True, help="start no trial after this many minutes")
    args = parser.parse_args(argv)

    from studies.runner import work
    from studies.spec import load_study_file
    from workbench.errors import UserError

    try:
        spec = load_study_file(args.file, args.storage)
        work(spec, args.index, time.monotonic() + args.minutes * 60)
    except UserError as error:
        print(f"study worker {args.index}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
