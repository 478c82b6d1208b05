"""`workbench report RUN`: (re)build a main job's self-contained report.html from its run directory."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="rebuild runs/NAME/report.html from a `workbench run` directory")
    parser.add_argument("run", type=Path, help="run directory of `workbench run` (e.g. runs/main)")
    parser.add_argument("--out", type=Path, default=None, help="HTML file to write (default: RUN/report.html)")
    parser.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    from workbench.errors import UserError
    from workbench.evaluation.reports.html_report import write_html_report

    if not (args.run / "main_job.json").is_file():
        raise UserError(f"{args.run}: not a `workbench run` directory (no main_job.json)")
    print(f"wrote {write_html_report(args.run, args.out)}")
    return 0
