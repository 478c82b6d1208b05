"""Running an ADR study: the range-update rule (``studies.adr``) on simulated episodes of a trained policy.

``workbench study run studies/adr.toml`` plays ``adr.episodes`` episodes in the training domain
(the study's scene, the train object split, the base profile) with the greedy CEM policy of
``base.run`` (or ``base.checkpoint``); each episode draws from the base profile with ADR's
current ranges, one parameter pinned at a boundary in a ``boundary_fraction`` of them. It never
sees target data: ADR judges ranges by success in simulation alone.

The study directory (``runs/<name>``, ``study.directory``) gets, atomically, every
``adr.save_every`` episodes and at the end:

- ``adr.json``: the settings, every judged buffer (boundary, mean success, widen / narrow / keep,
  old and new value), the current ranges and buffers, the generator's state and the episode count;
- ``profile.toml``: the base profile with ADR's current ranges, a profile ``train`` and
  ``collect`` take (``workbench study best NAME --out FILE`` copies it).

A run stopped by ``--minutes``, Ctrl-C or a kill loses at most the episodes since the last save:
``workbench study resume NAME`` (or ``run`` again) continues from ``adr.json``, with the same draws
as an uninterrupted run. Changing the settings (other than ``adr.episodes``) needs a new study name
or directory.

Per episode the environment is kept and only its randomization's ranges change
(``Randomization.set_profile``): a new environment per episode would recompile its scenes and
refill its texture pool.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policies.runtime.files import atomic_write_bytes
from studies.adr import AdrState, apply_ranges
from studies.adr_spec import AdrStudy
from workbench.errors import UserError

ADR_STREAM = 70  # the seed stream of ADR episodes (workbench.rollout.collect's are < 60, studies.measure's 60, 61)
RECORD, PROFILE = "adr.json", "profile.toml"


def reset_seed(seed: int, episode: int) -> int:
    return int(np.random.SeedSequence([seed, ADR_STREAM, episode]).generate_state(1)[0])


@dataclass(frozen=True)
class Acting:
    """The policy ADR judges ranges with: made for the environment, at the image size it sees."""

    image_size: int
    make: Callable  # (GraspEnv) -> a policy with reset(rng) and act(observation)


def load_policy(study: AdrStudy) -> Acting:
    """The greedy CEM policy of the study's checkpoint, at the image size it was trained at."""
    import torch

    from policies.qtopt.checkpoint import CheckpointError, learner_from_checkpoint
    from workbench.rollout.qtopt_policy import CHECKPOINT_NAME, QTOptPolicy

    base = study.file.base
    field, path = ("base.run", Path(base.run) / CHECKPOINT_NAME) if base.run else (
        "base.checkpoint", Path(base.checkpoint))
    if not path.is_file():
        raise UserError(f"{study.source}: {field}: no checkpoint at {path} (train one first: workbench train --run ...)")
    torch.set_num_threads(1)  # small nets on a loaded machine
    try:
        learner, info = learner_from_checkpoint(path)
    except CheckpointError as error:
        raise UserError(f"{study.source}: {field}: {error}") from None
    try:
        cem = base.cem.merged(info.config.act_cem)
    except ValueError as error:
        raise UserError(f"{study.source}: base.cem with the CEM of {path}: {error}") from None
    policy = QTOptPolicy(learner.policy_net, cem, info.config.action_spec())
    return Acting(int(info.image_size), lambda env: policy)


def play(env, policy, seed: int, rng: np.random.Generator) -> bool:
    """One episode to its end; its success."""
    observation, info = env.reset(seed=seed)
    policy.reset(rng)
    done = False
    while not done:
        observation, _, terminated, truncated, info = env.step(policy.act(observation))
        done = terminated or truncated
    return bool(info["success"])


class AdrRecord:
    """What ``adr.json`` holds, and the profile beside it; written together, atomically each."""

    def __init__(self, study: AdrStudy):
        self.study = study
        self.path = study.directory / RECORD

    def load(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            missing = [key for key in ("identity", "state", "rng", "episodes_done", "history", "counts", "seconds")
                       if key not in data]
            if missing:
                raise KeyError(", ".join(missing))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"{self.path}: unreadable ADR record ({error}); move it away to start over") from None
        if data.get("identity") != json.loads(json.dumps(self.study.identity())):
            raise UserError(f"{self.study.source}: {self.path} was written by other ADR settings (only adr.episodes "
                            "may change on resume); use another study.name or study.directory")
        return data

    def save(self, state: AdrState, rng_state: dict, done: int, history: list[dict], counts: dict,
             seconds: float) -> None:
        """``rng_state``: the generator as it was after episode ``done`` (so a resume draws what comes next)."""
        study = self.study
        ranges = state.ranges()
        record = {"study": study.name, "kind": "adr", "identity": study.identity(),
                  "episodes_done": done, "episodes": study.file.adr.episodes, "finished": done >= study.file.adr.episodes,
                  "seconds": round(seconds, 1), "counts": counts, "entropy": state.entropy(),
                  "nominal": {p.path: {"low": p.nominal_low, "high": p.nominal_high} for p in study.params},
                  "final_ranges": {path: {"low": low, "high": high} for path, (low, high) in ranges.items()},
                  "history": history, "state": state.to_dict(), "rng": rng_state,
                  "profile": PROFILE}
        profile = apply_ranges(study.profile, study.params, list(ranges.values()), name=study.name)
        profile = profile.model_copy(update={"description": f"ADR ranges of study {study.name} grown from profile "
                                                            f"{study.profile.name!r}"})
        lines = [(f"# Written by ADR (`workbench study run {study.source}`): study {study.name}, after {done} of "
                  f"{study.file.adr.episodes} episodes, from profile {study.profile.name!r}."),
                 *(f"#   {path}: [{low:g}, {high:g}]" for path, (low, high) in ranges.items())]
        from randomizers import format_profile

        atomic_write_bytes(study.directory / PROFILE, ("\n".join(lines) + "\n" + format_profile(profile)).encode())
        atomic_write_bytes(self.path, json.dumps(record, indent=2, default=float).encode())


def _check_directory(study: AdrStudy) -> None:
    """UserError when the directory holds another study (its study.json names another)."""
    record_path = study.directory / "study.json"
    if not record_path.exists():
        return
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{study.source}: study.directory {study.directory} holds an unreadable study.json ({error}); "
                        "choose another study.directory") from None
    if not isinstance(record, dict) or record.get("name") != study.name or record.get("kind") != "adr":
        raise UserError(f"{study.source}: study.directory = {str(study.directory)!r} holds another study "
                        f"({record.get('name') if isinstance(record, dict) else None!r}); nothing was written. "
                        "Choose another study.directory")


def run_adr_study(study: AdrStudy, minutes: float | None = None, must_exist: bool = False,
                  progress: bool = True, acting: Acting | None = None) -> dict:
    """Play the study's episodes (continuing its record), saving as it goes; a summary. ``acting``: another
    policy than the study's checkpoint (a caller holding its network already; a scripted policy in tests)."""
    started = time.monotonic()
    deadline = None if minutes is None else started + minutes * 60
    _check_directory(study)
    keeper = AdrRecord(study)
    previous = keeper.load()
    if previous is None and must_exist:
        raise UserError(f"nothing to resume: {keeper.path} is missing; start it with `workbench study run`")
    acting = acting or load_policy(study)
    base, adr = study.file.base, study.file.adr
    if previous is None:
        state, rng = AdrState(study.params, study.config), np.random.default_rng([base.seed, ADR_STREAM])
        done, history, counts, seconds = 0, [], {"successes": 0, "boundary_episodes": 0, "boundary_successes": 0}, 0.0
    else:
        state = AdrState.from_dict(study.params, study.config, previous["state"])
        rng = np.random.default_rng()
        rng.bit_generator.state = previous["rng"]
        done, history, counts = previous["episodes_done"], previous["history"], previous["counts"]
        seconds = previous["seconds"]
    study.directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(study.directory / "study.toml", study.text.encode())
    atomic_write_bytes(study.directory / "study.json", json.dumps(
        {"name": study.name, "kind": "adr", "storage": None, "source": study.source}, indent=2).encode())
    from workbench.sim.env import GraspEnv

    env = GraspEnv(base.scene, split="train", image_size=acting.image_size, profile=study.profile)
    policy = acting.make(env)
    stopped = None
    consistent = rng.bit_generator.state  # the generator after episode `done`: what a save records
    bar = tqdm(total=adr.episodes, initial=done, desc=f"ADR {study.name}", disable=not progress)
    since = time.monotonic()
    try:
        while done < adr.episodes:
            if deadline is not None and time.monotonic() >= deadline:
                stopped = "time budget reached (--minutes)"
                break
            draw = state.draw(rng)
            env.randomization.set_profile(apply_ranges(study.profile, study.params, draw.ranges, name=study.name))
            success = play(env, policy, reset_seed(base.seed, done), np.random.default_rng([base.seed, ADR_STREAM,
                                                                                             done, 1]))
            counts["successes"] += success
            if draw.boundary is not None:
                counts["boundary_episodes"] += 1
                counts["boundary_successes"] += success
            update = state.record(draw, float(success), done)
            done += 1
            consistent = rng.bit_generator.state
            if update is not None:
                history.append(update.to_dict())
                if update.old != update.new:
                    bar.write(f"[{study.name}] episode {done}: {update.path}.{update.side} {update.action} "
                              f"{update.old:g} -> {update.new:g} (mean success {update.mean:.2f})")
            bar.update(1)
            if done % adr.save_every == 0 or done == adr.episodes:
                now = time.monotonic()
                seconds, since = seconds + now - since, now
                keeper.save(state, consistent, done, history, counts, seconds)
    finally:  # Ctrl-C or an error included: the record holds every finished episode
        bar.close()
        env.close()
        seconds += time.monotonic() - since
        keeper.save(state, consistent, done, history, counts, seconds)  # an unfinished episode is replayed
    summary = {"study": study.name, "kind": "adr", "directory": str(study.directory), "episodes_done": done,
               "episodes": adr.episodes, "finished": done >= adr.episodes, "stopped": stopped,
               "seconds": round(seconds, 1), "ranges": {p: list(r) for p, r in state.ranges().items()},
               "updates": sum(h["changed"] for h in history), "profile": str(study.directory / PROFILE)}
    return summary


def write_adr_profile(study: AdrStudy, out: Path, force: bool = False) -> dict:
    """``workbench study best`` for ADR: the study's profile.toml copied to ``out`` (checked to load)."""
    from randomizers import ProfileError, load_profile

    source = study.directory / PROFILE
    record = AdrRecord(study).load()
    if record is None or not source.is_file():
        raise UserError(f"study {study.name!r} has no {source} yet; run it: workbench study run {study.source}")
    out = Path(out)
    if out.suffix != ".toml":
        raise UserError(f"--out {out}: expected a .toml file name")
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to replace")
    atomic_write_bytes(out, source.read_bytes())
    try:
        load_profile(out)
    except ProfileError as error:
        raise UserError(f"{out}: the written profile does not load: {error}") from None
    return {"study": study.name, "trial": None, "files": [str(out)], "episodes_done": record["episodes_done"],
            "finished": record["finished"], "ranges": record["final_ranges"]}
