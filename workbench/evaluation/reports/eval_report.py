"""The evaluation report: success per held-out suite, with what each suite changes."""

from __future__ import annotations

import json

import numpy as np

from workbench.evaluation.reports import plots
from workbench.evaluation.reports.markdown import interval, percent, table
from workbench.evaluation.suites import STAND_IN_NOTE, Suite
from workbench.evaluation.target_splits import split_of
from workbench.rollout.evaluate import SuccessRate


def eval_record(policy: str, suites: list[Suite], results: dict[str, SuccessRate], episodes: int, seed: int,
                image_size: int) -> dict:
    # "split": which target split the reset seeds lie in ("test" for every evaluation a user runs).
    record = {"policy": policy, "episodes": episodes, "seed": seed, "split": split_of(seed, episodes),
              "image_size": image_size,
              "suites": {s.name: {**s.to_dict(), "success": results[s.name].to_dict()} for s in suites}}
    if any(s.stand_in for s in suites):
        record["note"] = STAND_IN_NOTE
    return record


def build_eval_report(record: dict, suites: list[Suite], results: dict[str, SuccessRate],
                      frames: dict[str, np.ndarray]) -> dict[str, bytes]:
    """report.md, report.json and the figures, as file name -> bytes."""
    policy = record["policy"]
    rows = [[s.name, percent(results[s.name].rate), interval(results[s.name].low, results[s.name].high,
                                                             as_percent=True),
             f"{results[s.name].successes}/{results[s.name].episodes}", s.description] for s in suites]
    lines = [
        f"# Evaluation of `{policy}` on held-out simulation suites",
        "",
        (f"{record['episodes']} episodes per suite, reset seeds {record['seed']} to "
         f"{record['seed'] + record['episodes'] - 1} in every suite (the same object draws; target split: "
         f"{record.get('split') or 'none'}), "
         f"{record['image_size']}x{record['image_size']} images. Intervals are 95% Wilson score intervals."),
        "",
        table(["suite", "success", "95% interval", "successes", "what it changes"], rows),
        "",
        "![success per suite](success_per_suite.png)",
        "",
        "First frames of the first episodes of each suite, as the policy saw them:",
        "",
        "![suite samples](suite_samples.png)",
        "",
    ]
    if "note" in record:
        lines += [f"**Note:** {record['note']}", ""]
    return {
        "report.md": "\n".join(lines).encode(),
        "report.json": json.dumps(record, indent=2).encode(),
        "success_per_suite.png": plots.success_per_suite({s.name: {policy: results[s.name]} for s in suites}),
        "suite_samples.png": plots.suite_strips(frames),
    }
