"""Choices made before export, on the target's ``tune`` split: the study's profile against ``default``,
and the CEM settings the bundle acts with.

- ``measure_on_seeds``: a checkpoint's greedy CEM policy, one episode per reset seed (episode ``s``
  runs as ``run_episodes(env, policy, 1, s)``, as a study's trials measure success), with every
  episode's outcome, a 95% Wilson interval and the median action latency.
- ``decide_profile``: the study's choice against ``default`` on the same episodes (paired); the
  study's profile is taken only when the paired difference's point estimate is above zero.
- ``choose_cem``: the fastest setting (fewest Q-network scores per action) whose success lies within
  the 95% interval of the best one's, among the settings under the latency budget.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from workbench.rollout.evaluate import paired_difference, run_episodes, wilson_interval


class _Timed:
    """A policy whose every ``act`` is timed."""

    def __init__(self, policy):
        self.policy, self.times = policy, []

    def reset(self, rng) -> None:
        self.policy.reset(rng)

    def act(self, observation: dict) -> np.ndarray:
        start = time.perf_counter()
        action = self.policy.act(observation)
        self.times.append(time.perf_counter() - start)
        return action


def measure_on_seeds(checkpoint: str, suite: str, seeds: Sequence[int], cem: dict | None = None) -> dict:
    """The greedy policy of ``checkpoint`` (acting with ``cem``, default: its config's act_cem) in
    ``suite``, one episode per reset seed."""
    import torch

    from policies.qtopt.checkpoint import learner_from_checkpoint
    from policies.runtime.cem import CEMConfig
    from workbench.evaluation.suites import SUITES, make_suite_env
    from workbench.rollout.qtopt_policy import QTOptPolicy

    torch.set_num_threads(1)
    learner, info = learner_from_checkpoint(checkpoint)
    settings = CEMConfig(**cem) if cem is not None else info.config.act_cem
    policy = _Timed(QTOptPolicy(learner.policy_net, settings, info.config.action_spec()))
    env = make_suite_env(SUITES[suite], info.image_size)
    try:
        outcomes = [outcome for seed in seeds
                    for outcome in run_episodes(env, policy, 1, int(seed), progress=False).outcomes]
    finally:
        env.close()
    rate = wilson_interval(sum(o["success"] for o in outcomes), len(outcomes))
    return {"checkpoint": str(checkpoint), "suite": suite, "first_seed": int(seeds[0]), "episodes": len(outcomes),
            "cem": dataclasses.asdict(settings), "success": rate.to_dict(),
            "latency_ms": float(np.median(policy.times) * 1000.0), "outcomes": outcomes}


def decide_profile(study: Sequence[dict], default: Sequence[dict]) -> dict:
    """The study's profile or ``default``, from both policies' outcomes on the same episodes."""
    paired = paired_difference(study, default)
    # Beating default means the paired interval lies above zero: a lead within noise changes nothing exported.
    chosen = "study" if paired.low > 0 else "default"
    noise = ": its interval includes zero, the lead is within noise" if paired.difference > 0 else ""
    reason = (f"the study's choice beats default on the tune split: study - default {paired}; "
              "training under the study's profile"
              if chosen == "study" else
              f"the study's choice did not beat default on the tune split (study - default {paired}{noise}); "
              "training under default")
    return {"chosen": chosen, "paired": paired.to_dict(), "reason": reason}


def cem_scores(cem: dict) -> int:
    """Q-network evaluations per action: what makes one CEM setting slower than another."""
    return int(cem["iterations"]) * int(cem["samples"])


def setting_name(cem: dict) -> str:
    return f"{cem['iterations']}x{cem['samples']}x{cem['elites']}"


def choose_cem(results: Sequence[dict], latency_budget_ms: float) -> dict:
    """``results``: per candidate {"cem", "success" (rate, low, high), "latency_ms"}, measured on the same
    episodes. Returns the rows (with ``within_best_interval``, ``under_budget``, ``chosen``), the chosen
    setting and the rule; with no candidate under the budget, the fastest one (and says so)."""
    rows = [{"setting": setting_name(r["cem"]), "cem": r["cem"], "success": r["success"],
             "latency_ms": r["latency_ms"], "scores_per_action": cem_scores(r["cem"]),
             "under_budget": r["latency_ms"] <= latency_budget_ms} for r in results]
    if not rows:
        raise ValueError("no CEM candidates measured")
    fastest_first = sorted(rows, key=lambda r: (r["scores_per_action"], r["latency_ms"]))
    eligible = [r for r in fastest_first if r["under_budget"]]
    if eligible:
        best = max(eligible, key=lambda r: (r["success"]["rate"], -r["scores_per_action"]))
        for row in rows:
            row["within_best_interval"] = row["success"]["rate"] >= best["success"]["low"]
        chosen = next(r for r in eligible if r["within_best_interval"])
        note = (f"the fastest setting under {latency_budget_ms:g} ms whose success lies within the 95% interval "
                f"of the best under the budget ({best['setting']}, {best['success']['rate']:.1%} "
                f"[{best['success']['low']:.1%}, {best['success']['high']:.1%}])")
    else:
        best = chosen = fastest_first[0]
        for row in rows:
            row["within_best_interval"] = None
        note = f"no setting met the latency budget of {latency_budget_ms:g} ms: the fastest one"
    for row in rows:
        row["chosen"] = row is chosen
    return {"chosen": chosen["setting"], "cem": chosen["cem"], "best": best["setting"], "rows": rows,
            "latency_budget_ms": latency_budget_ms, "rule": note}
