"""`workbench study`: Optuna studies over the pipelines (run, resume, status, report, best).

    workbench study run studies/quick.toml [--workers N] [--storage URL]
    workbench study resume quick
    workbench study status quick
    workbench study report quick
    workbench study best quick --out profile.toml
    workbench study run studies/adr.toml              # kind "adr": ADR's ranges, written as runs/adr/profile.toml

A study is named by its file, its directory (runs/NAME) or its name; see studies/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("study", help="Optuna studies: tune randomization ranges and CEM settings")
    commands = parser.add_subparsers(dest="study_command", required=True, metavar="SUBCOMMAND")

    def target(sub, what="study file, study directory or study name"):
        sub.add_argument("study", help=what)
        sub.add_argument("--storage", default=None,
                         help="storage URL (default: the file's, or the one recorded in runs/NAME/study.json)")
        sub.add_argument("--runs", type=Path, default=Path("runs"), help="where study directories are (by name)")

    run = commands.add_parser("run", help="start a study, or join it with more workers")
    run.add_argument("study", help="study file (TOML)")
    run.add_argument("--storage", default=None, help="storage URL instead of the file's (any Optuna URL, or "
                     "journal:PATH for several local workers)")
    run.add_argument("--workers", type=int, default=1, help="worker processes here, sharing the storage")
    run.add_argument("--minutes", type=float, default=None, help="time budget of this invocation "
                     "(default: the file's budget.minutes)")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.set_defaults(func=run_command)

    resume = commands.add_parser("resume", help="continue a stopped or killed study until its budget is spent")
    target(resume)
    resume.add_argument("--workers", type=int, default=1)
    resume.add_argument("--minutes", type=float, default=None)
    resume.add_argument("--fail-running", action="store_true",
                        help="mark every running trial failed first (when no worker anywhere is alive)")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(func=resume_command)

    status = commands.add_parser("status", help="trial counts and the latest trials")
    target(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=status_command)

    report = commands.add_parser("report", help="plots (PNG and HTML) and the table of the best trials")
    target(report)
    report.add_argument("--out", type=Path, default=None, help="report directory (default: STUDY_DIR/report)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(func=report_command)

    best = commands.add_parser("best", help="write the chosen trial's randomization profile and CEM settings")
    target(best)
    best.add_argument("--out", type=Path, required=True,
                      help="the profile file to write (TOML); the training config goes beside it as "
                           "STEM.train.toml")
    best.add_argument("--trial", type=int, default=None, help="this trial (default: the best, see --objective)")
    best.add_argument("--objective", default=None,
                      help="multi-objective: pick the Pareto-optimal trial best in this metric")
    best.add_argument("--require", action="append", default=[], metavar="METRIC>=VALUE",
                      help="only trials meeting this (e.g. success>=0.6, latency_ms<=3); repeatable")
    best.add_argument("--force", action="store_true", help="replace existing files")
    best.add_argument("--json", action="store_true")
    best.set_defaults(func=best_command)


def _workers(value: int) -> int:
    from workbench.errors import UserError

    if value < 1:
        raise UserError(f"--workers must be at least 1, got {value}")
    return value


def _minutes(value: float | None) -> float | None:
    from workbench.errors import UserError

    if value is not None and not value > 0:
        raise UserError(f"--minutes must be positive, got {value}")
    return value


def _print(summary: dict, as_json: bool, text: str) -> None:
    print(json.dumps(summary) if as_json else text)


def run_command(args: argparse.Namespace) -> int:
    from studies.runner import run_study
    from studies.spec import load_study_file

    workers, minutes = _workers(args.workers), _minutes(args.minutes)
    spec = load_study_file(args.study, args.storage)
    summary = run_study(spec, workers, minutes)
    _print(summary, args.json, _summary_text(summary))
    return 0


def resume_command(args: argparse.Namespace) -> int:
    from studies.runner import locate, run_study

    workers, minutes = _workers(args.workers), _minutes(args.minutes)
    spec = locate(args.study, args.storage, args.runs)
    summary = run_study(spec, workers, minutes, must_exist=True, fail_running=args.fail_running)
    _print(summary, args.json, _summary_text(summary))
    return 0


def _summary_text(summary: dict) -> str:
    if summary.get("kind") == "adr":
        ranges = "; ".join(f"{path} [{low:g}, {high:g}]" for path, (low, high) in summary["ranges"].items())
        state = "finished" if summary["finished"] else (f"stopped: {summary['stopped'] or 'not finished'}; "
                                                        f"resume with: workbench study resume {summary['study']}")
        return (f"ADR study {summary['study']}: {summary['episodes_done']} of {summary['episodes']} episodes "
                f"({summary['seconds']:.0f} s), {summary['updates']} boundary changes, {state}. Ranges: {ranges}. "
                f"Profile: {summary['profile']}")
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["states"].items()))
    return (f"study {summary['study']}: {states} ({summary['seconds']:.0f} s); storage {summary['storage']}; "
            f"next: workbench study report {summary['study']}")


def status_command(args: argparse.Namespace) -> int:
    from studies.report import load_study, trial_rows
    from studies.runner import locate, state_counts

    spec = locate(args.study, args.storage, args.runs)
    if spec.kind == "adr":
        return _adr_status(spec, args.json)
    study = load_study(spec)
    counts = state_counts(study)
    rows = trial_rows(study, spec)
    summary = {"study": spec.name, "states": counts, "trials": rows}
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    print(f"study {spec.name} ({spec.kind}): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for row in rows[-20:]:
        values = ", ".join(f"{k} {v:.4g}" for k, v in (row["metrics"] or {}).items())
        print(f"  trial {row['number']:>4} {row['state']:<8} {values} {row['reason'] or ''}".rstrip())
    return 0


def report_command(args: argparse.Namespace) -> int:
    from studies.report import write_report
    from studies.runner import locate

    spec = locate(args.study, args.storage, args.runs)
    if spec.kind == "adr":
        from workbench.errors import UserError

        raise UserError(f"study {spec.name!r} is an ADR study: it has no Optuna trials to plot; its boundary "
                        f"history is {spec.directory / 'adr.json'} (`workbench study status {spec.name}`)")
    summary = write_report(spec, args.out)
    _print(summary, args.json, f"{summary['html']}: {len(summary['plots'])} plots"
           + (f" ({len(summary['skipped'])} skipped: " + "; ".join(summary["skipped"]) + ")"
              if summary["skipped"] else "") + f"; best trials in {summary['table']}")
    return 0


def best_command(args: argparse.Namespace) -> int:
    from studies.best import write_best
    from studies.runner import locate

    spec = locate(args.study, args.storage, args.runs)
    if spec.kind == "adr":
        from studies.adr_run import write_adr_profile

        summary = write_adr_profile(spec, args.out, force=args.force)
        _print(summary, args.json, f"ADR study {spec.name} after {summary['episodes_done']} episodes"
               f"{'' if summary['finished'] else ' (not finished)'}: wrote {', '.join(summary['files'])}")
        return 0
    summary = write_best(spec, args.out, trial_number=args.trial, objective=args.objective,
                         requirements=args.require, force=args.force)
    files = ", ".join(summary["files"])
    values = ", ".join(f"{k} {v:.4g}" for k, v in summary["metrics"].items())
    _print(summary, args.json, f"trial {summary['trial']} ({values}): wrote {files}")
    return 0


def _adr_status(spec, as_json: bool) -> int:
    from studies.adr_run import AdrRecord

    record = AdrRecord(spec).load()
    if record is None:
        print(json.dumps({"study": spec.name, "episodes_done": 0}) if as_json else
              f"ADR study {spec.name}: not started ({spec.directory / 'adr.json'} is missing)")
        return 0
    summary = {key: record[key] for key in ("study", "episodes_done", "episodes", "finished", "seconds", "counts",
                                            "final_ranges", "history")}
    if as_json:
        print(json.dumps(summary))
        return 0
    print(f"ADR study {spec.name}: {record['episodes_done']} of {record['episodes']} episodes"
          f"{' (finished)' if record['finished'] else ''}, {len(record['history'])} buffers judged")
    for path, bounds in record["final_ranges"].items():
        nominal = record["nominal"][path]
        print(f"  {path}: [{bounds['low']:g}, {bounds['high']:g}] (nominal [{nominal['low']:g}, {nominal['high']:g}])")
    return 0
