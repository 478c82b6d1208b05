"""`workbench run`: the main job on the embedded defaults, stage by stage (see workbench.cli.main_job).

Each stage writes its result into the run directory and is skipped on a rerun when
its marker is there, so a killed run continues where it stopped; at the end
``runs/<name>/report.html`` shows everything.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="the main job: collect, warm start, tune, confirm, finetune, choose CEM, evaluate, transfer, export, "
               "drive, report (cached stages)")
    parser.add_argument("--name", default="main", help="run directory name under --runs")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--budget", type=float, default=1.0,
                        help="multiplier of the collection, training, tune study and evaluation budgets (1.0: under "
                             "30 minutes on 2 cores; 2.0 doubles them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from workbench.cli.main_job import EVAL_SEED, Plan, run_main_job
    from workbench.evaluation.target_splits import check_outside_tune

    # The held-out episodes reset with EVAL_SEED + seed + i: they must stay in the test split.
    plan = Plan().scaled(args.budget)
    check_outside_tune(EVAL_SEED + args.seed, max(plan.eval_episodes, plan.drive_episodes), f"--seed {args.seed}")
    run_dir = args.runs / args.name
    records = run_main_job(run_dir, seed=args.seed, budget=args.budget)
    confirm = records.get("confirm", {}).get("summary", {})
    if confirm:
        chosen = "the study's choice" if confirm["decision"] == "study" else "default"
        print(f"training profile: {chosen} ({confirm['reason']})")
    cem = records.get("choose-cem", {}).get("summary", {})
    if cem:
        print(f"acting CEM: {cem['chosen']} ({cem['latency_ms']:.1f} ms per action, budget {cem['latency_budget_ms']:g} ms)")
    top = records.get("evaluate", {}).get("summary", {}).get("headline")
    if top:
        trained, explorer = top["trained"], top["explorer"]
        print(f"held-out success (simulation suites pooled): trained {trained['rate']:.1%} "
              f"[{trained['low']:.1%}, {trained['high']:.1%}] vs explorer {explorer['rate']:.1%} "
              f"[{explorer['low']:.1%}, {explorer['high']:.1%}]")
    print(f"report: {run_dir / 'report.html'}")
    return 0
