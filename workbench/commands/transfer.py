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
    parser.add_argument("--max-images", type=int, default=500, help="at most this many images per domain")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates of the KID interval")
    parser.add_argument("--seed", type=int, default=0, help="seeds the reference scenes and every metric draw")
    parser.add_argument("--report", type=Path, default=None,
                        help="report directory (default: RUN/reports/transfer-DATA for one policy, "
                             "else reports/transfer-DATA)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=transfer_command)


def transfer_command(args: argparse.Namespace) -> int:
    import numpy as np

    from randomizers import load_profile
    from workbench.errors import UserError
    from workbench.metrics.transfer import (check_compatible, compare_domains, describe_target, load_run_qnet,
                                            measure_policy, subsample, target_images, training_domain_frames)
    from workbench.realdata import load_real_data
    from workbench.reports.directory import write_report_directory
    from workbench.reports.transfer_report import PolicyColumn, build_transfer_report, transfer_record
    from workbench.suite_eval import evaluate_suite
    from workbench.suites import get_suites

    for name in ("episodes", "max_images", "bootstrap"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.max_images < 10:
        raise UserError(f"--max-images must be at least 10 (5-fold cross-validation), got {args.max_images}")
    suites = get_suites(args.suite) if args.suite else []
    runs = [load_run_qnet(policy) for policy in args.policy]
    # Everything the user gave is read and checked before anything is computed or written.
    real_by_size = {size: load_real_data(args.real, image_size=size) for size in {r.image_size for r in runs}}
    for run in runs:
        if (args.sim_profile or run.profile) is None:
            raise UserError(f"{run.run} has no config.json naming its training profile; pass --sim-profile")
        load_profile(args.sim_profile or run.profile)  # a bad profile fails now, not after minutes of work
        check_compatible(run, real_by_size[run.image_size])
    targets = {size: target_images(real) for size, real in real_by_size.items()}

    rng = np.random.default_rng(args.seed)
    targets = {size: (subsample(images, args.max_images, rng), kind) for size, (images, kind) in targets.items()}
    domains, domain_index, columns = [], {}, []
    for label, run in zip(args.policy, runs):
        profile = args.sim_profile or run.profile
        key = (run.scene, profile, run.image_size)
        if key not in domain_index:
            real_images, kind = targets[run.image_size]
            sim = training_domain_frames(run.scene, profile, len(real_images), args.seed, run.image_size)
            domain_index[key] = len(domains)
            domains.append(compare_domains(f"{run.scene}, profile {profile}, training objects", sim,
                                           real_images, kind))
        domain = domain_index[key]
        transfer = measure_policy(run, real_by_size[run.image_size], domains[domain], rng, args.bootstrap)
        success = {s.name: evaluate_suite(label, s, args.episodes, 1000 + args.seed, run.image_size)
                   for s in suites}
        columns.append(PolicyColumn(label, transfer, domain, success))

    real = next(iter(real_by_size.values()))
    target = {**real.summary(), "description": describe_target(real)}
    settings = {"seed": args.seed, "max_images": args.max_images, "bootstrap": args.bootstrap,
                "sim_profile": args.sim_profile, "suites": [s.name for s in suites],
                "episodes": args.episodes if suites else 0, "suite_seed": 1000 + args.seed}
    record = transfer_record(target, columns, domains, settings)
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
