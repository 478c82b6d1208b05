"""The `workbench` command.

Each command lives in a module of `workbench.cli.commands` that adds its parser
with `register(subparsers)`. Errors a user can cause exit with status 2 and a
one-paragraph message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco's GL

COMMAND_MODULES = ("run", "report", "scene", "randomize", "collect", "train", "eval", "export", "sign", "drive", "serve",
                   "bench", "transfer", "data", "study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Sim-to-real domain randomization workbench for vision-based grasping.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"workbench.cli.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from policies.runtime.files import FileProblem
    from scenes.spec import SpecError
    from workbench.errors import UserError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, SpecError, FileProblem) as exc:  # FileProblem: a bundle or input file refused
        print(f"workbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"workbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

