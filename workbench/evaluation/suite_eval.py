"""Evaluate a policy on named suites and write the evaluation report."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import UserError
from workbench.evaluation.suites import Suite, make_suite_env, reset_frames
from workbench.rollout.evaluate import SuccessRate, paired_difference, run_episodes

PREVIEW_FRAMES = 8  # first frames per suite shown in the report
EPISODES_FILE = "episodes.json"  # beside report.json: {suite: [{reset_seed, object_ids, success}, ...]}


def policy_image_size(policy: str, default: int | None) -> int | None:
    """A run directory's Q-network image size (its policy needs it); else ``default``."""
    if Path(policy).is_dir():
        from workbench.rollout.qtopt_policy import load_run_policy

        size = int(load_run_policy(policy).qnet.image_size)
        if default is not None and default != size:
            raise UserError(f"--image-size {default} differs from {policy}'s {size}x{size} images")
        return size
    return default


def evaluate_suite(policy: str, suite: Suite, episodes: int, seed: int, image_size: int | None,
                   progress: bool = True) -> SuccessRate:
    from workbench.rollout.qtopt_policy import make_policy

    env = make_suite_env(suite, image_size)
    try:
        return run_episodes(env, make_policy(policy, env), episodes, seed, progress=progress,
                            desc=f"{suite.name} {policy}")
    finally:
        env.close()


def default_report_dir(policy: str, label: str) -> Path:
    """Inside the run directory for a trained policy, else under ./reports."""
    if Path(policy).is_dir():
        return Path(policy) / "reports" / label
    return Path("reports") / f"{label}-{policy}"


def evaluate_suites(policy: str, suites: list[Suite], episodes: int, seed: int, image_size: int | None,
                    report: str | Path | None, progress: bool = True) -> dict:
    """Success per suite; writes the report and returns its record (with the report's path)."""
    image_size = policy_image_size(policy, image_size)
    results = {s.name: evaluate_suite(policy, s, episodes, seed, image_size, progress) for s in suites}
    return write_suite_report(policy, suites, results, episodes, seed, image_size, report)


def write_suite_report(policy: str, suites: list[Suite], results: dict[str, SuccessRate], episodes: int, seed: int,
                       image_size: int | None, report: str | Path | None) -> dict:
    """The evaluation report of ``results`` (suite name -> success) with each suite's first frames;
    returns its record (with the report's path). ``report`` None: the default directory."""
    from workbench.evaluation.reports.directory import write_report_directory
    from workbench.evaluation.reports.eval_report import build_eval_report, eval_record

    frames = {s.name: reset_frames(s, min(PREVIEW_FRAMES, episodes), seed, image_size) for s in suites}
    size = image_size or int(next(iter(frames.values())).shape[1])
    record = eval_record(policy, suites, results, episodes, seed, size)
    label = "eval-" + (suites[0].name if len(suites) == 1 else "all")
    out = Path(report) if report is not None else default_report_dir(policy, label)
    files = build_eval_report(record, suites, results, frames)
    # Beside the summary, each episode's reset seed, objects and success: what a paired comparison needs.
    outcomes = {name: list(result.outcomes) for name, result in results.items()}
    files[EPISODES_FILE] = json.dumps(outcomes).encode()
    write_report_directory(out, files)
    return {**record, "report": str(out / "report.md")}


def read_outcomes(report_dir: str | Path) -> dict[str, list[dict]]:
    """Per suite, the per-episode outcomes an evaluation report holds (``EPISODES_FILE``)."""
    path = Path(report_dir) / EPISODES_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: no per-episode results ({error}); rerun the evaluation") from None


def paired_by_suite(a_dir: str | Path, b_dir: str | Path, suites: list[str], pooled: list[str]) -> dict:
    """A - B per suite of ``suites``, and over the episodes of ``pooled`` together, on the same
    episodes of two reports."""
    a, b = read_outcomes(a_dir), read_outcomes(b_dir)
    try:
        result = {name: paired_difference(a[name], b[name]).to_dict() for name in suites}
        result["pooled"] = paired_difference([x for s in pooled for x in a[s]],
                                             [y for s in pooled for y in b[s]]).to_dict()
    except (KeyError, ValueError) as error:
        raise UserError(f"{a_dir} and {b_dir} cannot be compared episode by episode: {error}") from None
    return result
