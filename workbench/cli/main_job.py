"""`workbench run`: the main job, stage by stage, cached in the run directory.

On the embedded defaults (the built-in scene, the ``default`` profile, SQLite in the run
directory, CPU) the stages are:

 1. scene sheet            scene_sheet.png: the scene's canonical look, 16 scenes
 2. randomization sheet    randomization_sheet.png: first frames under the training profile
 3. collect                offline/: explorer episodes from two processes (time budget)
 4. train                  QT-Opt with a collector process beside the trainer (time budget):
                           config.json, checkpoint.safetensors, history.json, learning_curve.png
 5. study                  study/: the quick randomization study (studies/quick.toml), SQLite storage
 6. evaluate               reports/eval-all/ (trained policy) and baselines/explorer/eval-all/ on every
                           held-out suite, proxy-real included, 95% Wilson intervals
 7. transfer               proxy-real/ (simulated stand-in data) and reports/transfer-proxy-real/
 8. export                 bundle/: ONNX + manifest, verified by the torch-free runtime
 9. drive                  drive.json: the bundle closed loop through the sim driver vs the run
10. report                 report.html (self-contained)

A stage is done when its marker ``stages/<key>.json`` exists (written atomically, last);
a rerun skips done stages. While a stage runs, ``stages/<key>.attempt.json`` records the
time it has spent, so a time-budgeted stage that was killed continues with what is left
of its budget (training resumes from its checkpoint with the config it started with).

The training stage's budget and config are in ``TRAINING`` below: the one place to tune them.
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
from studies.in_run import run_quick_study
from workbench.errors import UserError
from workbench.files import write_image_atomic


@dataclass(frozen=True)
class TrainingPlan:
    """The training stage at ``--budget 1``: wall-clock minutes, the offline share of them, and the
    PipelineConfig values (``workbench train --config`` keys) over the defaults."""

    minutes: float
    offline_share: float
    overrides: dict = field(default_factory=dict)


# The training budget and config of the main job: change them here.
# offline_share 0.4 as `bench learn`: the policy improved during finetuning, not offline.
TRAINING = TrainingPlan(minutes=16.0, offline_share=0.4, overrides={})

SCENE, PROFILE = "bin_grasp", "default"  # the embedded defaults
EVAL_SEED = 1000  # held-out episodes reset with EVAL_SEED + run seed + i, as `workbench eval --seed 1000`


@dataclass(frozen=True)
class Plan:
    """What each stage does at ``--budget 1`` (about 28 minutes planned on two idle cores)."""

    collect_minutes: float = 3.0
    training: TrainingPlan = TRAINING
    study_trials: int = 12
    study_minutes: float = 4.0  # no trial starts after this
    eval_episodes: int = 100  # per suite and policy
    transfer_images: int = 200
    transfer_episodes: int = 60
    drive_episodes: int = 50
    bootstrap: int = 1000
    sheet_tiles: int = 16

    def scaled(self, budget: float) -> Plan:
        """``--budget``: time budgets and episode counts times ``budget`` (with floors that keep
        every stage meaningful)."""
        return dataclasses.replace(
            self, collect_minutes=self.collect_minutes * budget,
            training=dataclasses.replace(self.training, minutes=self.training.minutes * budget),
            study_trials=max(3, round(self.study_trials * budget)), study_minutes=self.study_minutes * budget,
            eval_episodes=max(4, round(self.eval_episodes * budget)),
            transfer_images=max(20, round(self.transfer_images * budget)),
            transfer_episodes=max(10, round(self.transfer_episodes * budget)),
            drive_episodes=max(4, round(self.drive_episodes * budget)))


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


def train_stage(ctx: StageContext) -> dict:
    from workbench.training.pipeline import planned_steps, train_with_collector

    plan = ctx.plan.training
    seconds = plan.minutes * 60
    history = ctx.run_dir / "history.json"

    def status() -> dict:
        points = _read_json(history) or [{}]
        last = points[-1]
        return {"step": last.get("step", 0), "loss": f"{last.get('loss', float('nan')):.3f}",
                "online": _count(ctx.run_dir / "online", "*.safetensors")}

    with TimeBar("train (trainer + 1 lockstep collector process)", seconds - ctx.spent_before, status):
        summary = train_with_collector(ctx.run_dir, training_overrides(ctx.plan, ctx.seed),
                                       *planned_steps(seconds, plan.offline_share))
    return {**summary, "plan_minutes": plan.minutes, "offline_share": plan.offline_share,
            "overrides": plan.overrides}


def study_stage(ctx: StageContext) -> dict:
    """The quick study (``studies.in_run``), in the run directory's study/."""
    directory = ctx.run_dir / "study"
    minutes = max(0.2, ctx.plan.study_minutes - ctx.spent_before / 60)
    with TimeBar("study (quick)", minutes * 60 + 30, lambda: {"trials": _count(directory / "trials", "0*")}):
        return run_quick_study(directory, trials=ctx.plan.study_trials, minutes=minutes, seed=ctx.seed)


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
    return [
        Stage("scene-sheet", "scene sheet", 15, scene_sheet),
        Stage("randomization-sheet", "randomization sheet (training profile)", 15, randomization_sheet),
        Stage("collect", "collect explorer episodes (2 processes)", plan.collect_minutes * 60 + 15, collect_stage),
        Stage("train", "train QT-Opt (a collector process beside the trainer)",
              plan.training.minutes * 60 + 20, train_stage),
        Stage("study", "quick randomization study (Optuna, SQLite in the run directory)",
              min(plan.study_minutes * 60 + 60, 12 * plan.study_trials + 40), study_stage),
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
