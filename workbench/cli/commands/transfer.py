"""`workbench transfer`: transfer metrics of trained policies on real (or stand-in) data, with a report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("transfer", help="sim-to-real transfer metrics of trained policies")
    parser.add_argument("--policy", action="append", required=True,
                        help="training run directory (repeat to compare policies, e.g. trained with none and wide)")
    parser.add_argument("--real", type=Path, required=True, help="real-data directory (docs/real-data-format.md)")
    parser.add_argument("--suite", default=None,
                        help="also measure success on this held-out suite (or all), e.g. proxy-real")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per suite with --suite")
    parser.add_argument("--sim-profile", default=None,
                        help="profile of the simulated reference images (default: each run's training profile)")
    parser.add_argument("--split", choices=["tune", "test", "all"], default=None,
                        help="which files of the data to measure on (default: the test split where the data has "
                             "splits, which no study saw; else every file)")
    parser.add_argument("--max-images", type=int, default=500, help="at most this many images per domain")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates of the KID interval")
    parser.add_argument("--seed", type=int, default=0, help="seeds the reference scenes and every metric draw")
    parser.add_argument("--report", type=Path, default=None,
                        help="report directory (default: RUN/reports/transfer-DATA for one policy, "
                             "else reports/transfer-DATA)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=transfer_command)


def transfer_command(args: argparse.Namespace) -> int:
    from workbench.errors import UserError
    from workbench.evaluation.reports.directory import write_report_directory
    from workbench.evaluation.reports.transfer_report import build_transfer_report
    from workbench.evaluation.suites import get_suites
    from workbench.evaluation.transfer_eval import measure_transfer

    for name in ("episodes", "max_images", "bootstrap"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.max_images < 10:
        raise UserError(f"--max-images must be at least 10 (5-fold cross-validation), got {args.max_images}")
    suites = get_suites(args.suite) if args.suite else []
    record, columns, domains = measure_transfer(args.policy, args.real, suites=suites, episodes=args.episodes,
                                                sim_profile=args.sim_profile, max_images=args.max_images,
                                                bootstrap=args.bootstrap, seed=args.seed, split=args.split)
    out = args.report or _default_report(args.policy, args.real)
    write_report_directory(out, build_transfer_report(record, columns, domains))
    record["report"] = str(out / "report.md")
    if args.json:
        print(json.dumps(record))
    else:
        for column in columns:
            t = column.transfer
            line = (f"{column.label}: KID {t.kid.kid:.4g} [{t.kid.low:.4g}, {t.kid.high:.4g}], "
                    f"domain classifier {t.domain_classifier.accuracy:.1%}")
            if t.opc is not None:
                auc = "n/a" if t.opc.auc is None else f"{t.opc.auc:.3f}"
                soft = "n/a" if t.opc.soft_opc is None else f"{t.opc.soft_opc:.4f}"
                line += f", AUC {auc}, SoftOPC {soft}"
            for suite, result in column.success.items():
                line += f", {suite} {result}"
            print(line)
        print(f"report: {record['report']}")
    return 0


def _default_report(policies: list[str], real: Path) -> Path:
    label = f"transfer-{real.resolve().name}"
    if len(policies) == 1:
        return Path(policies[0]) / "reports" / label
    return Path("reports") / label
