"""``workbench bench tuning``: does tuning the randomization pay, at equal compute?

For every training seed, one warm start (explorer collection and QT-Opt's offline phase,
``workbench.training.warm_start``) is shared by every profile of that seed. The tuning
methods choose their profiles once, from the first seed's warm start, against the
proxy-real ``tune`` split (the study and BayRn) or the training domain (ADR). Then every
profile finetunes from each seed's warm start for the same learner steps, and every final
policy is evaluated on the proxy-real ``test`` split and every held-out suite, on the same
episodes for every profile and seed. The table gives success with 95% intervals and the
paired difference of each tuned profile minus the best hand-set one (pairs: the same seed
and the same episode), with two 95% intervals: over the paired episodes (these trained
policies) and over training seeds (each seed's difference one draw; the interval that says
whether training under the profile pays, ``workbench.rollout.evaluate.SeedLevelDifference``).

Everything is written as soon as it is done, under ``--out``::

    warm/seed-S/                   the warm start of seed S (shared by its profiles)
    methods/<method>/profile.toml  the profile a method chose (and its study directory)
    runs/<profile>-seed-S/         a final policy
    results/<profile>-seed-S.json  its per-suite success and per-episode outcomes
    tuning.json, tuning.png        the table and its bar chart, written after each result

A stopped comparison keeps what it finished, and a rerun with the same arguments continues.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError

HAND_SET = ("none", "default", "wide")
TUNED = ("adr", "bayrn", "study")
EVAL_SEED = 1000  # the test split's episodes, as `workbench eval` and the main job (run seed 0)
TARGET = "proxy-real"


@dataclass(frozen=True)
class BenchPlan:
    """Sizes at ``--budget 1``: 1 h 18 min measured on two cores with three seeds (docs/benchmarks.md)."""

    collect_minutes: float = 2.5  # explorer episodes per seed, two processes
    offline_minutes: float = 5.0  # the warm start's offline phase
    finetune_minutes: float = 2.5  # every final policy, under its profile
    method_minutes: float = 5.0  # each tuning method's budget (a study trial is about a minute)
    episodes: int = 100  # per suite and policy (not scaled: the issue asks for at least 100)

    def scaled(self, budget: float) -> BenchPlan:
        return dataclasses.replace(self, collect_minutes=self.collect_minutes * budget,
                                   offline_minutes=self.offline_minutes * budget,
                                   finetune_minutes=self.finetune_minutes * budget,
                                   method_minutes=self.method_minutes * budget)


def add_arguments(parser) -> None:
    parser.set_defaults(cores=2)
    parser.add_argument("--out", default="runs/bench-tuning", help="directory of the comparison (a rerun continues)")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds, the same for every profile")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="scales every time budget (1: about 80 minutes on two cores with three seeds)")
    parser.add_argument("--episodes", type=int, default=100, help="held-out episodes per suite and policy")
    parser.add_argument("--profiles", default=",".join(HAND_SET + TUNED),
                        help="profiles to compare: hand-set names and the methods adr, bayrn, study")


def run(args) -> dict:
    seeds = parse_seeds(args.seeds)
    profiles = [name.strip() for name in args.profiles.split(",") if name.strip()]
    unknown = [name for name in profiles if name not in HAND_SET + TUNED]
    if unknown:
        raise UserError(f"--profiles: unknown {', '.join(unknown)} (expected {', '.join(HAND_SET + TUNED)})")
    if not 0.01 <= args.budget <= 100 or args.episodes < 10:
        raise UserError("--budget must be in [0.01, 100] and --episodes at least 10")
    plan = dataclasses.replace(BenchPlan().scaled(args.budget), episodes=args.episodes)
    bench = TuningBench(Path(args.out), seeds, profiles, plan, args.budget)
    return bench.run()


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds: expected distinct integers, got {text!r}")
    return seeds


class TuningBench:
    def __init__(self, out: Path, seeds: list[int], profiles: list[str], plan: BenchPlan, budget: float):
        self.out, self.seeds, self.profiles, self.plan, self.budget = out, seeds, profiles, plan, budget
        self.settings = {"seeds": seeds, "profiles": profiles, "plan": dataclasses.asdict(plan), "budget": budget}

    def run(self) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_settings()
        started = time.monotonic()
        for seed in self.seeds:
            self.warm_start(seed)
        chosen = {name: self.method_profile(name) for name in self.profiles if name in TUNED}
        for seed in self.seeds:
            for name in self.profiles:
                self.final_policy(name, chosen.get(name, name), seed)
                table = self.write_table()
        table = self.write_table()
        print_table(table)
        return {"out": str(self.out), "seconds_this_invocation": round(time.monotonic() - started, 1),
                **{k: table[k] for k in ("best_hand_set", "paired") if k in table}}

    def _check_settings(self) -> None:
        path = self.out / "settings.json"
        if path.exists():
            before = json.loads(path.read_text())
            if before != json.loads(json.dumps(self.settings)):
                raise UserError(f"{self.out} holds a comparison with other settings ({path}); rerun with those "
                                "or choose another --out")
        else:
            atomic_write_bytes(path, json.dumps(self.settings, indent=2).encode())

    # -- the stages --------------------------------------------------------------------------------

    def warm_start(self, seed: int) -> Path:
        from workbench.training.config import RunPaths
        from workbench.training.pipeline import collect_explorer, planned_explorer_episodes, planned_steps
        from workbench.training.warm_start import train_warm_start

        run_dir = self.out / "warm" / f"seed-{seed}"
        if (run_dir / "warm.json").exists():
            return run_dir
        print(f"warm start, seed {seed}: collect {self.plan.collect_minutes:.1f} min, offline phase "
              f"{self.plan.offline_minutes:.1f} min", flush=True)
        if not RunPaths(run_dir).config.exists():
            collect_explorer(run_dir, scene="bin_grasp", profile="default", seed=seed, image_size=64,
                             episodes=planned_explorer_episodes(self.plan.collect_minutes * 60))
        offline_steps, _ = planned_steps(self.plan.offline_minutes * 60, 1.0)
        summary = train_warm_start(run_dir, {"seed": seed, "scene": "bin_grasp", "profile": "default"}, offline_steps)
        atomic_write_bytes(run_dir / "warm.json", json.dumps(summary, indent=2, default=str).encode())
        return run_dir

    def method_profile(self, method: str) -> Path:
        """The profile ``method`` chose, from the first seed's warm start (run once, then read)."""
        directory = self.out / "methods" / method
        profile = directory / "profile.toml"
        if profile.exists():
            return profile
        print(f"method {method}: {self.plan.method_minutes:.1f} min from seed {self.seeds[0]}'s warm start", flush=True)
        METHODS[method](self.out / "warm" / f"seed-{self.seeds[0]}", directory, self.seeds[0],
                        self.plan.method_minutes, profile)
        return profile

    def final_policy(self, name: str, profile, seed: int) -> dict:
        from workbench.training.pipeline import planned_steps
        from workbench.training.warm_start import finetune_from

        result_path = self.out / "results" / f"{name}-seed-{seed}.json"
        if result_path.exists():
            return json.loads(result_path.read_text())
        twin = self.hand_set_twin(profile) if name in TUNED else None
        if twin is not None:  # a method that kept a hand-set profile's values: the same policy, not trained twice
            print(f"{name}, seed {seed}: {profile} has {twin}'s values; its result is {twin}'s", flush=True)
            record = {**self.final_policy(twin, twin, seed), "profile": name, "profile_file": str(profile),
                      "same_values_as": twin}
            atomic_write_bytes(result_path, json.dumps(record).encode())
            return record
        run_dir = self.out / "runs" / f"{name}-seed-{seed}"
        _, finetune_steps = planned_steps(self.plan.finetune_minutes * 60, 0.0)
        print(f"{name}, seed {seed}: finetune {finetune_steps} steps under {profile}, then "
              f"{self.plan.episodes} episodes per suite", flush=True)
        started = time.monotonic()
        summary = finetune_from(self.out / "warm" / f"seed-{seed}", run_dir, profile=str(profile),
                                finetune_steps=finetune_steps)
        trained = time.monotonic()
        suites = evaluate_all_suites(run_dir, self.plan.episodes)
        record = {"profile": name, "profile_file": str(profile), "seed": seed, "learner_step": summary["learner_step"],
                  "train_s": round(trained - started, 1), "eval_s": round(time.monotonic() - trained, 1),
                  "eval_seed": EVAL_SEED, "split": "test", "suites": suites}
        atomic_write_bytes(result_path, json.dumps(record).encode())
        return record

    def hand_set_twin(self, profile) -> str | None:
        """The first compared hand-set profile with the same ranges as ``profile`` (names aside), or None."""
        from randomizers import load_profile

        def values(name_or_path):
            return load_profile(str(name_or_path)).model_dump(exclude={"name", "description"})

        return next((name for name in HAND_SET if name in self.profiles and values(name) == values(profile)), None)

    # -- the table ---------------------------------------------------------------------------------

    def results(self) -> dict[tuple[str, int], dict]:
        found = {}
        for name in self.profiles:
            for seed in self.seeds:
                path = self.out / "results" / f"{name}-seed-{seed}.json"
                if path.exists():
                    found[(name, seed)] = json.loads(path.read_text())
        return found

    def write_table(self) -> dict:
        table = build_table(self.results(), self.profiles, self.seeds)
        atomic_write_bytes(self.out / "tuning.json", json.dumps(table, indent=2).encode())
        if table["rows"]:
            atomic_write_bytes(self.out / "tuning.png", success_plot(table))
        return table


def evaluate_all_suites(run_dir: Path, episodes: int) -> dict:
    """Every held-out suite (proxy-real's test split included), two processes; per suite the rate and outcomes."""
    from workbench.evaluation.suites import SUITES
    from workbench.training.pipeline import spawn_pool

    jobs = [(str(run_dir), name, episodes) for name in SUITES]
    with spawn_pool(2) as pool:
        results = pool.starmap(_evaluate_suite, jobs)
        pool.close()
        pool.join()
    return dict(zip(SUITES, results))


def _evaluate_suite(policy: str, suite: str, episodes: int) -> dict:
    import torch

    from workbench.evaluation.suite_eval import evaluate_suite
    from workbench.evaluation.suites import SUITES

    torch.set_num_threads(1)
    result = evaluate_suite(policy, SUITES[suite], episodes, EVAL_SEED, 64, progress=False)
    return {**result.to_dict(), "outcomes": list(result.outcomes)}


def pooled(records: list[dict], suite: str) -> tuple[list[dict], dict]:
    """Outcomes of one suite over seeds (tagged with the seed, so pairs match seed and episode) and their rate."""
    from workbench.rollout.evaluate import wilson_interval

    outcomes = [dict(o, reset_seed=(r["seed"], o["reset_seed"])) for r in records for o in r["suites"][suite]["outcomes"]]
    rate = wilson_interval(sum(bool(o["success"]) for o in outcomes), len(outcomes))
    return outcomes, rate.to_dict()


def build_table(results: dict[tuple[str, int], dict], profiles: list[str], seeds: list[int]) -> dict:
    """Per profile: success per suite pooled over the finished seeds; the paired difference of every tuned profile
    against the best hand-set one on proxy-real test, over the seeds both finished."""
    from workbench.evaluation.suites import SUITES
    from workbench.rollout.evaluate import paired_difference, seed_level_difference

    rows = {}
    for name in profiles:
        records = [results[(name, seed)] for seed in seeds if (name, seed) in results]
        if records:
            rows[name] = {"seeds": [r["seed"] for r in records],
                          "suites": {suite: pooled(records, suite)[1] for suite in SUITES}}
            twins = {r.get("same_values_as") for r in records}
            if len(twins) == 1 and None not in twins:
                rows[name]["same_values_as"] = twins.pop()
    table = {"target": TARGET, "split": "test", "eval_seed": EVAL_SEED, "rows": rows, "paired": {}}
    hand = [name for name in HAND_SET if name in rows and len(rows[name]["seeds"]) == len(seeds)]
    if not hand:
        return table
    best = max(hand, key=lambda name: rows[name]["suites"][TARGET]["rate"])
    table["best_hand_set"] = best
    for name in profiles:
        if name not in TUNED or name not in rows:
            continue
        common = [s for s in rows[name]["seeds"] if s in rows[best]["seeds"]]
        a = pooled([results[(name, s)] for s in common], TARGET)[0]
        b = pooled([results[(best, s)] for s in common], TARGET)[0]
        per_seed = [paired_difference(pooled([results[(name, s)]], TARGET)[0],
                                      pooled([results[(best, s)]], TARGET)[0]).difference for s in common]
        table["paired"][name] = {"against": best, "seeds": common, **paired_difference(a, b).to_dict(),
                                 "between_seeds": seed_level_difference(per_seed).to_dict()}
    return table


def success_plot(table: dict) -> bytes:
    """The table as grouped bars: success per suite and profile, with 95% intervals."""
    from types import SimpleNamespace

    from workbench.evaluation.reports.plots import success_per_suite

    suites = next(iter(table["rows"].values()))["suites"]
    return success_per_suite({suite: {name: SimpleNamespace(**row["suites"][suite])
                                      for name, row in table["rows"].items()} for suite in suites})


def print_table(table: dict) -> None:
    from workbench.evaluation.suites import SUITES

    names = list(SUITES)
    print(f"\nsuccess on held-out suites (test split, {table['eval_seed']}+i), pooled over seeds, 95% Wilson intervals")
    print(f"{'profile':10s} {'seeds':8s} " + " ".join(f"{n:>20s}" for n in names))
    for name, row in table["rows"].items():
        cells = [f"{row['suites'][n]['rate'] * 100:5.1f} [{row['suites'][n]['low'] * 100:4.1f},"
                 f"{row['suites'][n]['high'] * 100:5.1f}]" for n in names]
        same = f"  (= {row['same_values_as']}: the method kept its values)" if "same_values_as" in row else ""
        print(f"{name:10s} {','.join(map(str, row['seeds'])):8s} " + " ".join(f"{c:>20s}" for c in cells) + same)
    for name, paired in table["paired"].items():
        seeds = paired["between_seeds"]
        print(f"{name} - {paired['against']} on {TARGET} test: {paired['difference'] * 100:+.1f} points "
              f"[{paired['low'] * 100:+.1f}, {paired['high'] * 100:+.1f}] over {paired['episodes']} paired episodes "
              f"(these policies); training seeds as the unit: "
              f"[{seeds['low'] * 100:+.1f}, {seeds['high'] * 100:+.1f}] over {seeds['seeds']} seeds "
              f"({', '.join(f'{d * 100:+.1f}' for d in seeds['per_seed'])})")


# -- the methods: each writes the profile it chose -----------------------------------------------------

ADR_SECONDS_PER_EPISODE = 0.16  # measured in bench tuning: 333 ADR episodes (greedy CEM, 64x64) in 54 s
NOMINAL_EPISODES = 40  # the warm start's success at ADR's nominal ranges, to place its thresholds


def run_adr_method(warm: Path, directory: Path, seed: int, minutes: float, profile: Path) -> None:
    """ADR (studies/adr.toml) with the warm start's policy. Its thresholds are set for a policy succeeding
    half the time; they are scaled to the warm start's own success at the nominal ranges."""
    import tomllib

    import numpy as np
    import tomli_w

    from studies.adr import apply_ranges
    from studies.adr_run import load_policy, play, run_adr_study, write_adr_profile
    from studies.adr_spec import parse_adr_study
    from workbench.sim.env import GraspEnv

    source = Path(__file__).parent / "adr.toml"
    data = tomllib.loads(source.read_text())
    data["study"]["directory"] = str(directory / "study")
    data["base"].update(seed=seed, checkpoint=str(warm / "checkpoint.safetensors"))
    data["base"].pop("run", None)
    data["adr"]["episodes"] = max(20, int(minutes * 60 / ADR_SECONDS_PER_EPISODE))
    study = parse_adr_study(data, tomli_w.dumps(data), f"{source} (bench tuning)")
    acting = load_policy(study)
    nominal = apply_ranges(study.profile, study.params, [(p.nominal_low, p.nominal_high) for p in study.params],
                           name="nominal")
    env = GraspEnv(study.file.base.scene, split="train", image_size=acting.image_size, profile=nominal)
    policy = acting.make(env)
    try:
        rate = np.mean([play(env, policy, 10_000_000 + i, np.random.default_rng([seed, 71, i]))
                        for i in range(NOMINAL_EPISODES)])
    finally:
        env.close()
    scale = max(float(rate), 0.05) / 0.5
    data["adr"].update(t_low=round(data["adr"]["t_low"] * scale, 3), t_high=round(data["adr"]["t_high"] * scale, 3))
    study = parse_adr_study(data, tomli_w.dumps(data), f"{source} (bench tuning)")
    print(f"  ADR: warm start succeeds {rate:.0%} at the nominal ranges: t_low {data['adr']['t_low']}, "
          f"t_high {data['adr']['t_high']}, {data['adr']['episodes']} episodes", flush=True)
    run_adr_study(study, acting=acting)
    write_adr_profile(study, profile, force=True)


def run_study_method(study_file: Path, warm: Path, directory: Path, seed: int, minutes: float, profile: Path) -> None:
    """A warm-started study (TPE: tune.toml; BayRn: bayrn.toml) for ``minutes``; its best trial's profile."""
    import shutil

    from studies.in_run import TuneSettings, run_tune_study

    settings = TuneSettings(trials=1000, minutes=minutes, seed=seed, warm_start=warm, steps=STUDY_TRIAL_STEPS,
                            eval_episodes=50, labelled_episodes=50)
    summary = run_tune_study(directory / "study", settings, study_file)
    best = directory / "study" / "best" / "profile.toml"
    if not best.is_file():
        raise UserError(f"{study_file.name} in {directory}: no complete trial ({summary['states']}), so no profile")
    print(f"  {study_file.stem}: {summary['trials']} trials, best trial {summary['best_trial']} "
          f"{summary['best_metrics']}", flush=True)
    shutil.copyfile(best, profile.with_suffix(".tmp"))
    profile.with_suffix(".tmp").replace(profile)


STUDY_TRIAL_STEPS = 1050  # a trial's finetuning, as the main job's tune study
STUDIES = Path(__file__).parent
METHODS: dict[str, Callable[[Path, Path, int, float, Path], None]] = {
    "study": functools.partial(run_study_method, STUDIES / "tune.toml"),
    "bayrn": functools.partial(run_study_method, STUDIES / "bayrn.toml"),
    "adr": run_adr_method,
}
