"""`workbench run`: the main job, stage by stage, cached in the run directory.

On the embedded defaults (the built-in scene, the ``default`` profile, SQLite in the run
directory, CPU) the stages are, with their time at ``--budget 1`` on two idle cores:

 1. scene sheet            scene_sheet.png: the scene's canonical look, 16 scenes
 2. randomization sheet    randomization_sheet.png: first frames under the ``default`` profile
 3. collect (~3 min)       offline/: explorer episodes under ``default`` from two processes
 4. warm start (~5.5 min) QT-Opt's offline phase with a collector process beside the trainer:
                           config.json, checkpoint.safetensors, copied to warmstart.safetensors
 5. tune (~4 min)          study/: the tune study (studies/tune.toml, SQLite storage), 3 trials, counted
                           rather than timed (a busy machine runs the same ones): each trial continues
                           the warm start (its replay, weights and optimizer) and finetunes 1050 steps with a
                           lockstep collector under its visual ranges, then scores success on proxy-real's
                           tune split; the ``default`` profile's own values run first
 6. confirm (~1 min)       the best trial and the default trial re-measured on fresh tune episodes, paired:
                           the study's profile only if it beats default, else default (and the job says so);
                           profile.toml (the chosen profile) and choice.json
 7. finetune (~8.5 min)   joint finetuning from the warm start, the collector process collecting under the
                           chosen profile (config.json's finetune_profile); history.json, learning_curve.png
 8. choose CEM (~1 min)    acting CEM candidates on the tune split: the fastest within the best's 95%
                           interval under the latency budget (``Plan.latency_budget_ms``): acting_cem.json,
                           cem_choice.json; evaluation, export and drive act with it
 9. evaluate (~4 min)      reports/eval-all/ (trained policy) and baselines/explorer/eval-all/ on every
                           held-out suite (the test split), proxy-real included, 95% Wilson intervals
10. transfer               proxy-real/ (simulated stand-in data) and reports/transfer-proxy-real/
11. export                 bundle/: ONNX + manifest (the chosen CEM, its latency budget and measured latency),
                           verified by the torch-free runtime
12. drive                  drive.json: the bundle closed loop through the sim driver vs the run
13. report                 report.html (self-contained)

A stage is done when its marker ``stages/<key>.json`` exists (written atomically, last);
a rerun skips done stages. While a stage runs, ``stages/<key>.attempt.json`` records the
time it has spent, so a time-budgeted stage that was killed continues with what is left
of its budget (training resumes from its checkpoint with the config it started with).

The run is one training run in two calls: the warm start is its offline phase (config.json with
``finetune_steps`` 0, recorded in the warm start's marker); the finetune stage sets
``finetune_steps`` and ``finetune_profile`` in config.json and resumes it at its phase switch.
The training budget and config are in ``TRAINING`` below: the one place to tune them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError
from workbench.files import write_image_atomic
from workbench.training.warm_start import WARM_START


@dataclass(frozen=True)
class TrainingPlan:
    """The training stage at ``--budget 1``: wall-clock minutes, the offline share of them, and the
    PipelineConfig values (``workbench train --config`` keys) over the defaults."""

    minutes: float
    offline_share: float
    overrides: dict = field(default_factory=dict)


# The training budget and config of the main job: change them here. The offline share (the warm
# start) is 0.4 as `bench learn`: the policy improved during finetuning, not offline.
TRAINING = TrainingPlan(minutes=14.0, offline_share=0.4, overrides={})

SCENE, PROFILE = "bin_grasp", "default"  # the embedded defaults
EVAL_SEED = 1000  # held-out episodes reset with EVAL_SEED + run seed + i, as `workbench eval --seed 1000`
TARGET = "proxy-real"  # the suite whose tune split the tune, confirm and CEM stages see
CONFIRM_OFFSET = 50  # confirm and CEM: tune seeds from here on (a study's trials use the first ones)
# Acting CEM candidates (iterations, samples, elites): the paper's 2x64 and wider searches.
CEM_CANDIDATES = ((1, 64, 6), (2, 64, 6), (2, 128, 8), (3, 256, 10))

STUDY_DIR = "study"
CHOSEN_PROFILE = "profile.toml"
CHOICE = "choice.json"
CEM_CHOICE = "cem_choice.json"


@dataclass(frozen=True)
class Plan:
    """What each stage does at ``--budget 1`` (about 31 minutes estimated on two idle cores at the nominal
    rates; the 2-core AVX2 machine of docs/benchmarks.md, slower than nominal, took 35:50 alone)."""

    collect_minutes: float = 3.0
    training: TrainingPlan = TRAINING  # warm start: the offline share; finetune: the rest
    # A count, not a deadline: with "no trial starts after 4 minutes", one loaded machine ran one
    # trial where an idle one ran three, and the run depended on the load. Three fit in about 4
    # minutes on the 2-core AVX2 machine (docs/benchmarks.md).
    tune_trials: int = 3
    tune_steps: int = 1050  # finetuning learner steps per trial, from the warm start (30 s at nominal rate)
    tune_episodes: int = 50  # success episodes per trial: the tune split's first
    tune_labelled: int = 50  # labelled target episodes (opc_auc, recorded)
    confirm_episodes: int = 100  # tune seeds 50..149: the study's choice against default, and the CEM candidates
    cem_candidates: tuple = CEM_CANDIDATES
    latency_budget_ms: float = 20.0  # median time of one CEM action (torch, one thread) the bundle may take
    eval_episodes: int = 100  # per suite and policy
    transfer_images: int = 200
    transfer_episodes: int = 60
    drive_episodes: int = 50
    bootstrap: int = 1000
    sheet_tiles: int = 16

    def scaled(self, budget: float) -> Plan:
        """``--budget``: time budgets and episode counts times ``budget`` (with floors that keep
        every stage meaningful, and caps where the tune split ends)."""
        return dataclasses.replace(
            self, collect_minutes=self.collect_minutes * budget,
            training=dataclasses.replace(self.training, minutes=self.training.minutes * budget),
            tune_trials=max(2, round(self.tune_trials * budget)),
            tune_steps=max(50, round(self.tune_steps * budget)),
            tune_episodes=min(50, max(4, round(self.tune_episodes * budget))),
            tune_labelled=min(50, max(24, round(self.tune_labelled * budget))),
            confirm_episodes=min(350, max(8, round(self.confirm_episodes * budget))),
            eval_episodes=max(4, round(self.eval_episodes * budget)),
            transfer_images=max(20, round(self.transfer_images * budget)),
            transfer_episodes=max(10, round(self.transfer_episodes * budget)),
            drive_episodes=max(4, round(self.drive_episodes * budget)))

    def training_steps(self) -> tuple[int, int]:
        """(warm start's offline steps, finetune steps)."""
        from workbench.training.pipeline import planned_steps

        return planned_steps(self.training.minutes * 60, self.training.offline_share)


# -- stages and the runner ------------------------------------------------------------------------

@dataclass(frozen=True)
class StageContext:
    run_dir: Path
    seed: int
    plan: Plan
    spent_before: float  # seconds this stage spent in earlier, killed attempts
    out: Callable[[str], object] = print  # where the job's progress lines go


@dataclass(frozen=True)
class Stage:
    key: str  # the marker is stages/<key>.json
    title: str
    estimate_s: float
    work: Callable[[StageContext], dict]  # returns the stage's summary (JSON-able)


def marker_path(run_dir: Path, key: str) -> Path:
    return Path(run_dir) / "stages" / f"{key}.json"


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Attempt:
    """Records a stage's time spent in ``stages/<key>.attempt.json`` every few seconds while it runs."""

    def __init__(self, run_dir: Path, key: str, every: float = 5.0):
        self.path = Path(run_dir) / "stages" / f"{key}.attempt.json"
        self.every = every
        previous = _read_json(self.path) or {}
        self.attempts = int(previous.get("attempts", 0)) + 1
        self.before = float(previous.get("spent_s", 0.0))
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._ended: float | None = None

    @property
    def spent(self) -> float:
        return self.before + (self._ended or time.monotonic()) - self._started

    def _write(self) -> None:
        atomic_write_bytes(self.path, json.dumps({"attempts": self.attempts, "spent_s": self.spent}).encode())

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def __enter__(self) -> Attempt:
        self._started = time.monotonic()
        self._write()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._ended = time.monotonic()
        self._write()


def run_stages(run_dir: Path, stages: list[Stage], seed: int, plan: Plan, out=print) -> dict[str, dict]:
    """Run the stages not yet done, in order; returns every stage's marker record."""
    started = time.monotonic()
    records: dict[str, dict] = {}
    for index, stage in enumerate(stages, 1):
        marker = marker_path(run_dir, stage.key)
        prefix = f"[stage {index}/{len(stages)}] {stage.title}"
        if marker.exists():
            records[stage.key] = _read_json(marker) or {}
            out(f"{prefix}: done before, skipped ({marker})")
            continue
        attempt = Attempt(run_dir, stage.key)
        left = sum(s.estimate_s for s in stages[index - 1:] if not marker_path(run_dir, s.key).exists())
        left -= min(attempt.before, stage.estimate_s)
        out(f"\n{prefix} | elapsed {clock(time.monotonic() - started)}, est. left {clock(left)} "
            f"(this stage ~{clock(stage.estimate_s)})")
        if attempt.attempts > 1:
            out(f"  continuing: {attempt.attempts - 1} earlier attempt(s) spent {clock(attempt.before)}")
        with attempt:
            summary = stage.work(StageContext(Path(run_dir), seed, plan, attempt.before, out))
        record = {"stage": stage.key, "title": stage.title, "seconds": round(attempt.spent, 1),
                  "attempts": attempt.attempts, "estimate_s": round(stage.estimate_s, 1),
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "summary": summary}
        atomic_write_bytes(marker, json.dumps(record, indent=2, default=str).encode())
        attempt.path.unlink(missing_ok=True)
        records[stage.key] = record
        out(f"  done in {clock(attempt.spent - attempt.before)}"
            + (f" ({clock(attempt.spent)} over {attempt.attempts} attempts)" if attempt.attempts > 1 else ""))
    out(f"\nall {len(stages)} stages done; this invocation took {clock(time.monotonic() - started)}")
    return records


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


class TimeBar:
    """A tqdm bar over a stage's time budget, refreshed each second from a thread; ``status()``
    returns its postfix (read from the run directory, so it works whoever does the work)."""

    def __init__(self, desc: str, seconds: float, status: Callable[[], dict] = dict):
        self.desc, self.seconds, self.status = desc, max(1.0, seconds), status
        self._stop = threading.Event()

    def __enter__(self) -> TimeBar:
        self._started = time.monotonic()
        self.bar = tqdm(total=round(self.seconds), desc=self.desc, unit="s",
                        bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {elapsed} of ~{total}s{postfix}")
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.bar.n = min(round(time.monotonic() - self._started), self.bar.total)
            try:
                self.bar.set_postfix(self.status(), refresh=False)
            except Exception:  # noqa: BLE001 - a status read racing a write: show the last one
                pass
            self.bar.refresh()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.bar.close()


# -- the stages ---------------------------------------------------------------------------------------

def training_config(plan: Plan, seed: int):
    """The PipelineConfig the train stage starts from (scene, profile, image size for collection)."""
    from workbench.training.config import validate_config

    return validate_config(training_overrides(plan, seed), "workbench.cli.main_job.TRAINING")


def training_overrides(plan: Plan, seed: int) -> dict:
    return {"seed": seed, "scene": SCENE, "profile": PROFILE, **plan.training.overrides}


def _sheet(ctx: StageContext, out: str, profile: str | None, size: int, desc: str) -> dict:
    from workbench.evaluation.reports.sheet import contact_sheet
    from workbench.sim.env import GraspEnv

    env = GraspEnv(SCENE, split="train", image_size=size, **({"profile": profile} if profile else {}))
    try:
        frames = [env.reset(seed=ctx.seed + i)[0]["image"] for i in tqdm(range(ctx.plan.sheet_tiles), desc=desc)]
    finally:
        env.close()
    write_image_atomic(ctx.run_dir / out, contact_sheet(frames))
    return {"file": out, "tiles": len(frames), "size": size, "profile": profile or "none"}


def scene_sheet(ctx: StageContext) -> dict:
    return _sheet(ctx, "scene_sheet.png", None, 128, "scenes")


def randomization_sheet(ctx: StageContext) -> dict:
    config = training_config(ctx.plan, ctx.seed)
    return _sheet(ctx, "randomization_sheet.png", config.profile, config.qtopt.image_size, "draws")


def _count(directory: Path, pattern: str) -> int:
    return sum(1 for _ in directory.glob(pattern)) if directory.is_dir() else 0


def collect_stage(ctx: StageContext) -> dict:
    from workbench.training.pipeline import collect_explorer, planned_explorer_episodes

    config = training_config(ctx.plan, ctx.seed)
    offline = ctx.run_dir / "offline"
    episodes = planned_explorer_episodes(ctx.plan.collect_minutes * 60)
    with TimeBar("collect (2 explorer processes)", ctx.plan.collect_minutes * 60,
                 lambda: {"episodes": _count(offline, "episode-*.safetensors")}):
        result = collect_explorer(ctx.run_dir, scene=config.scene, profile=config.profile, seed=config.seed,
                                  image_size=config.qtopt.image_size, episodes=episodes)
    return {**result, "episodes_on_disk": _count(offline, "episode-*.safetensors"), "profile": config.profile,
            "image_size": config.qtopt.image_size}


def _training_status(run_dir: Path) -> Callable[[], dict]:
    def status() -> dict:
        points = _read_json(run_dir / "history.json") or [{}]
        last = points[-1]
        return {"step": last.get("step", 0), "loss": f"{last.get('loss', float('nan')):.3f}",
                "online": _count(run_dir / "online", "*.safetensors")}
    return status


def warm_start_stage(ctx: StageContext) -> dict:
    """QT-Opt's offline phase (a collector process beside the trainer), its checkpoint kept as the warm start."""
    from workbench.training.config import RunPaths
    from workbench.training.pipeline import NOMINAL_UPDATES_PER_S, train_with_collector

    plan = ctx.plan.training
    offline, _ = ctx.plan.training_steps()
    with TimeBar("warm start: offline phase (trainer + 1 lockstep collector process)",
                 offline / NOMINAL_UPDATES_PER_S - ctx.spent_before, _training_status(ctx.run_dir)):
        summary = train_with_collector(ctx.run_dir, training_overrides(ctx.plan, ctx.seed), offline, 0)
    paths = RunPaths(ctx.run_dir)
    atomic_write_bytes(ctx.run_dir / WARM_START, paths.checkpoint.read_bytes())
    return {**summary, "warm_start": WARM_START, "config": _read_json(paths.config),
            "plan_minutes": plan.minutes, "offline_share": plan.offline_share, "overrides": plan.overrides}


def tune_settings(ctx: StageContext):
    from studies.in_run import TuneSettings

    plan = ctx.plan
    return TuneSettings(trials=plan.tune_trials, minutes=None, seed=ctx.seed,
                        warm_start=ctx.run_dir.resolve(), steps=plan.tune_steps, eval_episodes=plan.tune_episodes,
                        labelled_episodes=plan.tune_labelled)


def tune_stage(ctx: StageContext) -> dict:
    """The tune study (``studies.in_run``), warm-started from the run's offline phase, in study/."""
    from studies.in_run import run_tune_study

    directory = ctx.run_dir / STUDY_DIR
    with TimeBar(f"tune study ({ctx.plan.tune_trials} warm-started trials)",
                 max(10.0, tune_estimate(ctx.plan) - ctx.spent_before),
                 lambda: {"trials": _count(directory / "trials", "0*")}):
        return run_tune_study(directory, tune_settings(ctx))


def tune_estimate(plan: Plan) -> float:
    """Seconds of the tune stage on two idle cores: each trial's finetuning, success episodes and process
    starts, and the labelled target episodes once."""
    from workbench.training.pipeline import NOMINAL_UPDATES_PER_S

    per_trial = plan.tune_steps / NOMINAL_UPDATES_PER_S + 0.3 * plan.tune_episodes + 15
    return plan.tune_trials * per_trial + 0.25 * plan.tune_labelled


def _measure_job(job: tuple) -> dict:
    from workbench.evaluation.tune_choice import measure_on_seeds

    return measure_on_seeds(*job)


def _measure_all(jobs: list[tuple], desc: str) -> list[dict]:
    """``measure_on_seeds`` of every job, two processes, in the jobs' order."""
    from workbench.training.pipeline import spawn_pool

    with spawn_pool(min(2, len(jobs))) as pool:
        results = list(tqdm(pool.imap(_measure_job, jobs), total=len(jobs), desc=desc))
        pool.close()
        pool.join()
    return results


def confirm_seeds(plan: Plan) -> range:
    from workbench.evaluation.target_splits import TUNE, suite_split

    return suite_split(TARGET, TUNE).seeds(plan.confirm_episodes, offset=CONFIRM_OFFSET)


def confirm_stage(ctx: StageContext) -> dict:
    """The study's best trial against the default profile's trial on fresh tune episodes, paired; the
    chosen profile written as profile.toml, the figures and the decision as choice.json."""
    from randomizers import diff_profiles, format_profile, load_profile
    from workbench.evaluation.tune_choice import decide_profile

    summary = _read_json(ctx.run_dir / STUDY_DIR / "summary.json") or {}
    trials = {t["number"]: t for t in summary.get("trials", [])}
    default_number, best_number = summary.get("default_trial"), (summary.get("best") or {}).get("trial")
    seeds = confirm_seeds(ctx.plan)
    sides = {"study": trials.get(best_number), "default": trials.get(default_number)}
    record = {"split": "tune", "suite": TARGET, "first_seed": seeds[0], "episodes": len(seeds),
              "study": _trial_figures(sides["study"]), "default": _trial_figures(sides["default"]),
              "paired": None, "outcomes": {}}
    if sides["default"] is None or sides["default"]["state"] != "complete":
        decision = {"chosen": "default", "reason": "the default profile's own trial did not complete, so the "
                    "study's choice cannot be compared with it; training under default"}
    elif best_number is None:
        decision = {"chosen": "default", "reason": "the study has no complete trial; training under default"}
    elif best_number == default_number:
        decision = {"chosen": "default", "reason": "the study's best trial is the default profile's own; "
                    "training under default"}
    else:
        jobs = [(str(Path(sides[side]["directory"]) / "run" / "checkpoint.safetensors"), TARGET, list(seeds))
                for side in ("study", "default")]
        measured = dict(zip(("study", "default"),
                            _measure_all(jobs, f"confirm: best and default trial, {len(seeds)} tune episodes each")))
        for side, result in measured.items():
            record[side]["confirm"] = {"success": result["success"], "latency_ms": result["latency_ms"]}
            record["outcomes"][side] = result["outcomes"]
        decision = decide_profile(measured["study"]["outcomes"], measured["default"]["outcomes"])
        record["paired"] = decision["paired"]
    default = load_profile(PROFILE)
    chosen = default
    if decision["chosen"] == "study":
        chosen = load_profile(Path(sides["study"]["directory"]) / "profile.toml")
    atomic_write_bytes(ctx.run_dir / CHOSEN_PROFILE, format_profile(chosen).encode())
    record.update(decision=decision["chosen"], reason=decision["reason"], profile=CHOSEN_PROFILE,
                  diff=[{"path": path, "default": a, "chosen": b} for path, a, b in diff_profiles(default, chosen)
                        if path not in ("name", "description")])
    atomic_write_bytes(ctx.run_dir / CHOICE, json.dumps(record, indent=2).encode())
    ctx.out(f"  {decision['reason']}")
    return {key: record[key] for key in ("decision", "reason", "paired", "profile")} | {
        "study_trial": best_number, "default_trial": default_number, "changed": len(record["diff"])}


def _trial_figures(trial: dict | None) -> dict:
    if trial is None:
        return {"trial": None}
    return {"trial": trial["number"], "state": trial["state"], "params": trial["params"],
            "tune_metrics": trial.get("metrics"), "directory": trial.get("directory")}


def finetune_stage(ctx: StageContext) -> dict:
    """Joint finetuning from the warm start, collecting under the chosen profile: config.json gets
    ``finetune_steps`` and ``finetune_profile``, and the run resumes at its phase switch."""
    from workbench.training.config import RunPaths, load_run_config, validate_config
    from workbench.training.pipeline import NOMINAL_UPDATES_PER_S, train_with_collector

    paths = RunPaths(ctx.run_dir)
    choice = _read_json(ctx.run_dir / CHOICE) or {}
    _, finetune = ctx.plan.training_steps()
    config = load_run_config(paths)
    profile = str((ctx.run_dir / CHOSEN_PROFILE).resolve()) if choice.get("decision") == "study" else None
    wanted = validate_config({**config.model_dump(mode="json"), "finetune_steps": finetune,
                              "finetune_profile": profile}, f"{paths.config} (finetune)")
    if wanted != config:
        atomic_write_bytes(paths.config, wanted.model_dump_json(indent=2).encode())
    with TimeBar("finetune under the chosen profile (trainer + 1 lockstep collector process)",
                 finetune / NOMINAL_UPDATES_PER_S - ctx.spent_before, _training_status(ctx.run_dir)):
        summary = train_with_collector(ctx.run_dir, {}, 0, 0)  # resumes with the config above
    return {**summary, "finetune_steps": finetune, "finetune_profile": profile,
            "profile": CHOSEN_PROFILE if profile else PROFILE, "decision": choice.get("decision")}


def choose_cem_stage(ctx: StageContext) -> dict:
    """Acting CEM candidates on the final checkpoint, the same tune episodes each; the chosen one is
    the run's acting CEM (acting_cem.json), which evaluation, export and drive act with."""
    from policies.qtopt.checkpoint import read_checkpoint_info
    from policies.runtime.cem import CEMConfig
    from workbench.evaluation.tune_choice import choose_cem
    from workbench.rollout.qtopt_policy import CHECKPOINT_NAME, write_acting_cem

    checkpoint = ctx.run_dir / CHECKPOINT_NAME
    trained = read_checkpoint_info(checkpoint).config.act_cem
    seeds = confirm_seeds(ctx.plan)
    candidates = [{"iterations": i, "samples": k, "elites": e, "initial_std": trained.initial_std}
                  for i, k, e in ctx.plan.cem_candidates]
    results = _measure_all([(str(checkpoint), TARGET, list(seeds), cem) for cem in candidates],
                           f"choose CEM: {len(candidates)} settings, {len(seeds)} tune episodes each")
    choice = choose_cem(results, ctx.plan.latency_budget_ms)
    chosen = next(row for row in choice["rows"] if row["chosen"])
    record = {"split": "tune", "suite": TARGET, "first_seed": seeds[0], "episodes": len(seeds), **choice,
              "outcomes": {setting_row["setting"]: result["outcomes"]
                           for setting_row, result in zip(choice["rows"], results)}}
    atomic_write_bytes(ctx.run_dir / CEM_CHOICE, json.dumps(record, indent=2).encode())
    write_acting_cem(ctx.run_dir, CEMConfig(**choice["cem"]), {
        "latency_budget_ms": ctx.plan.latency_budget_ms, "measured_latency_ms": chosen["latency_ms"],
        "chosen_by": f"{choice['rule']}; {TARGET} tune split, seeds {seeds[0]}..{seeds[-1]} (workbench run)"})
    ctx.out(f"  acting CEM {choice['chosen']}: {choice['rule']}")
    return {"chosen": choice["chosen"], "cem": choice["cem"], "best": choice["best"], "rule": choice["rule"],
            "latency_budget_ms": ctx.plan.latency_budget_ms, "latency_ms": chosen["latency_ms"],
            "success": chosen["success"]}


def _eval_job(job: tuple) -> tuple:
    """(policy, suite name, episodes, seed, image size) -> (policy, suite name, SuccessRate)."""
    import torch

    from workbench.evaluation.suite_eval import evaluate_suite
    from workbench.evaluation.suites import SUITES

    policy, suite_name, episodes, seed, image_size = job
    torch.set_num_threads(1)
    result = evaluate_suite(policy, SUITES[suite_name], episodes, seed, image_size, progress=False)
    return policy, suite_name, result


EXPLORER_EVAL = Path("baselines") / "explorer" / "eval-all"
TRAINED_EVAL = Path("reports") / "eval-all"


def evaluate_stage(ctx: StageContext) -> dict:
    """The trained policy and the explorer on every suite, the same scenes each, two processes."""
    from workbench.evaluation.reports.html_report import headline
    from workbench.evaluation.suite_eval import paired_by_suite, policy_image_size, write_suite_report
    from workbench.evaluation.suites import get_suites
    from workbench.training.pipeline import spawn_pool

    run = str(ctx.run_dir)
    suites = get_suites("all")
    image_size = policy_image_size(run, None)
    episodes, seed = ctx.plan.eval_episodes, EVAL_SEED + ctx.seed
    reports = {run: ctx.run_dir / TRAINED_EVAL, "explorer": ctx.run_dir / EXPLORER_EVAL}
    todo = [p for p, out in reports.items() if not _same_eval(out / "report.json", episodes, seed)]
    jobs = [(p, s.name, episodes, seed, image_size) for p in todo for s in suites]
    results: dict[str, dict] = {p: {} for p in todo}
    if jobs:
        with spawn_pool(2) as pool:
            for policy, suite, result in tqdm(pool.imap_unordered(_eval_job, jobs), total=len(jobs),
                                              desc=f"evaluate ({episodes} episodes per suite and policy)"):
                results[policy][suite] = result
            pool.close()
            pool.join()
    for policy in todo:
        write_suite_report(policy, suites, results[policy], episodes, seed, image_size, reports[policy])
    labels = {run: "trained", "explorer": "explorer"}
    records = {labels[p]: _read_json(out / "report.json") for p, out in reports.items()}
    # Trained minus explorer on the same episodes, per suite; the headline pools the simulation suites.
    top = headline(records["trained"], records["explorer"])
    paired = paired_by_suite(reports[run], reports["explorer"], [s.name for s in suites],
                             pooled=top["suites"] if top else [s.name for s in suites])
    if top:
        top["paired"] = paired["pooled"]
    return {"episodes": episodes, "seed": seed, "image_size": image_size,
            "reports": {labels[p]: str(out.relative_to(ctx.run_dir)) for p, out in reports.items()},
            "headline": top, "paired_by_suite": paired}


def _same_eval(path: Path, episodes: int, seed: int) -> bool:
    record = _read_json(path)
    return bool(record) and record.get("episodes") == episodes and record.get("seed") == seed


PROXY_REAL_DATA = "proxy-real"
TRANSFER_REPORT = Path("reports") / "transfer-proxy-real"


def transfer_stage(ctx: StageContext) -> dict:
    """Simulated stand-in data (suite proxy-real, labelled by the explorer), then the transfer
    metrics of the trained policy on it."""
    from workbench.evaluation.export_sim import export_sim
    from workbench.evaluation.reports.directory import write_report_directory
    from workbench.evaluation.reports.transfer_report import build_transfer_report
    from workbench.evaluation.suite_eval import policy_image_size
    from workbench.evaluation.suites import SUITES
    from workbench.evaluation.transfer_eval import measure_transfer

    data = ctx.run_dir / PROXY_REAL_DATA
    plan = ctx.plan
    if not data.exists():  # written atomically: if it is there, it is whole
        export_sim(data, SUITES["proxy-real"], images=plan.transfer_images, episodes=plan.transfer_episodes,
                   policy="explorer", seed=ctx.seed, image_size=policy_image_size(str(ctx.run_dir), None))
    ctx.out("  transfer metrics (KID with bootstrap interval, domain classifier, OPC, image statistics)")
    record, columns, domains = measure_transfer([str(ctx.run_dir)], data, suites=[], episodes=0, sim_profile=None,
                                                max_images=plan.transfer_images, bootstrap=plan.bootstrap,
                                                seed=ctx.seed)
    write_report_directory(ctx.run_dir / TRANSFER_REPORT, build_transfer_report(record, columns, domains))
    policy = record["policies"][0]
    return {"data": PROXY_REAL_DATA, "report": str(TRANSFER_REPORT), "kid": policy["kid"],
            "domain_classifier": policy["domain_classifier"],
            "opc": None if policy["opc"] is None else {k: policy["opc"].get(k) for k in ("auc", "soft_opc")}}


def export_stage(ctx: StageContext) -> dict:
    from workbench.deploy.export import export_run

    return export_run(ctx.run_dir, ctx.run_dir / "bundle", force=True, seed=ctx.seed)


def drive_stage(ctx: StageContext) -> dict:
    from workbench.deploy.drive import compare_with_run

    record = compare_with_run(ctx.run_dir / "bundle", ctx.run_dir, episodes=ctx.plan.drive_episodes,
                              seed=EVAL_SEED + ctx.seed, split="test")
    atomic_write_bytes(ctx.run_dir / "drive.json", json.dumps(record, indent=2).encode())
    return {"bundle": record["bundle"]["rate"], "run": record["run"]["rate"],
            "bundle_within_run_interval": record["bundle_within_run_interval"],
            "identical_actions_episodes": record["agreement"]["identical_actions_episodes"]}


def report_stage(ctx: StageContext) -> dict:
    from workbench.evaluation.reports.html_report import write_html_report

    path = write_html_report(ctx.run_dir)
    return {"report": str(path.relative_to(ctx.run_dir)), "bytes": path.stat().st_size}


def build_stages(plan: Plan) -> list[Stage]:
    """The main job's stages with their time estimates (seconds on two idle cores)."""
    from workbench.training.pipeline import NOMINAL_UPDATES_PER_S as rate

    offline, finetune = plan.training_steps()
    candidates = len(plan.cem_candidates)
    return [
        Stage("scene-sheet", "scene sheet", 15, scene_sheet),
        Stage("randomization-sheet", "randomization sheet (training profile)", 15, randomization_sheet),
        Stage("collect", "collect explorer episodes (2 processes)", plan.collect_minutes * 60 + 15, collect_stage),
        Stage("warm-start", "warm start: QT-Opt's offline phase (a collector process beside the trainer)",
              offline / rate + 20, warm_start_stage),
        Stage("tune", "tune study: warm-started trials on the tune split (Optuna, SQLite in the run directory)",
              tune_estimate(plan) + 15, tune_stage),
        Stage("confirm", "confirm the study's choice against default on fresh tune episodes",
              0.3 * plan.confirm_episodes + 15, confirm_stage),
        Stage("finetune", "finetune under the chosen profile (a collector process beside the trainer)",
              finetune / rate + 20, finetune_stage),
        Stage("choose-cem", "choose the acting CEM on the tune split",
              0.3 * plan.confirm_episodes * candidates / 2 + 15, choose_cem_stage),
        Stage("evaluate", "evaluate trained policy and explorer on every held-out suite",
              2.4 * plan.eval_episodes + 30, evaluate_stage),  # six suites, two policies, two processes
        Stage("transfer", "proxy-real data (simulated) and transfer metrics",
              0.05 * plan.transfer_images + 0.3 * plan.transfer_episodes + 30, transfer_stage),
        Stage("export", "export the policy bundle", 20, export_stage),
        Stage("drive", "drive the bundle closed loop in sim, compare with the run",
              0.7 * plan.drive_episodes + 10, drive_stage),
        Stage("report", "write report.html", 10, report_stage),
    ]


# -- the job ------------------------------------------------------------------------------------------

def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from workbench.deploy.export import git_revision

    found = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    for package in ("workbench", "numpy", "torch", "mujoco", "gymnasium", "optuna", "onnxruntime", "matplotlib"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return {**found, **git_revision()}


def start_job(run_dir: Path, seed: int, budget: float, plan: Plan) -> dict:
    """Write (or check against) ``main_job.json``: a rerun must use the settings the run started with."""
    path = run_dir / "main_job.json"
    record = _read_json(path)
    if record is not None:
        if (record.get("seed"), record.get("budget")) != (seed, budget):
            raise UserError(f"{run_dir} was started with --seed {record.get('seed')} --budget {record.get('budget')}; "
                            "rerun with those to continue it, or choose another --name")
        return record
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise UserError(f"{run_dir} is not empty and holds no main_job.json (not a `workbench run` directory, or "
                        "one from an older version); choose another --name or remove it")
    record = {"name": run_dir.name, "seed": seed, "budget": budget, "scene": SCENE, "profile": PROFILE,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "plan": dataclasses.asdict(plan),
              "versions": versions()}
    atomic_write_bytes(path, json.dumps(record, indent=2).encode())
    return record


def run_main_job(run_dir: str | Path, *, seed: int, budget: float,
                 plan: Plan | None = None, out=print) -> dict[str, dict]:
    """The whole main job in ``run_dir``; ``plan`` (default: ``Plan().scaled(budget)``) is for tests."""
    if not 0.01 <= budget <= 100:
        raise UserError(f"--budget must be between 0.01 and 100, got {budget}")
    run_dir = Path(run_dir)
    plan = plan or Plan().scaled(budget)
    training_config(plan, seed)  # a bad TRAINING fails before any work
    run_dir.mkdir(parents=True, exist_ok=True)
    start_job(run_dir, seed, budget, plan)
    stages = build_stages(plan)
    total = sum(s.estimate_s for s in stages)
    out(f"workbench run: {run_dir} (seed {seed}, budget x{budget:g}); {len(stages)} stages, "
        f"planned ~{clock(total)} on two idle cores")
    return run_stages(run_dir, stages, seed, plan, out)
