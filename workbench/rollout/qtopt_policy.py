"""The learned grasping policy: CEM over a trained Q-network, acting in GraspEnv.

Same interface as the scripted policies (``reset(rng)``, ``act(observation)``), so
evaluation and collection treat it alike. With exploration on (on-policy
collection during finetuning), it perturbs the CEM action as QT-Opt does:
with probability ``epsilon`` a uniformly random move replaces it, otherwise
Gaussian noise is added to the translation. The gripper and terminate bits are
the Q-function's own choice either way: random close or terminate commands
would mostly end episodes early and teach little. A closing action stays still
through the noise (``ActionSpec.close_in_place``), as CEM chose it. A greedy policy
(no exploration) looks at what its fingers hold before it ends an episode
(``ActionSpec.check_grasp``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from policies.qtopt.action_selection import cem_select
from policies.qtopt.checkpoint import CheckpointError, learner_from_checkpoint
from policies.qtopt.qnet import QNetwork
from policies.runtime.cem import CEMConfig
from policies.runtime.spec import CLOSURE_INDEX, ActionSpec
from workbench.errors import UserError
from workbench.sim.env import GraspEnv, observation_state
from workbench.sim.scripted import SCRIPTED_POLICIES

CHECKPOINT_NAME = "checkpoint.safetensors"
# The acting CEM chosen after training (``workbench run``'s choose-CEM stage): {"cem": {iterations, samples,
# elites, initial_std}, ...how it was chosen}. Absent: the run acts with its config's qtopt.act_cem.
ACTING_CEM_NAME = "acting_cem.json"


class QTOptPolicy:
    name = "qtopt"

    def __init__(self, qnet: QNetwork, cem: CEMConfig, spec: ActionSpec,
                 epsilon: float = 0.0, noise: float = 0.0):
        self.qnet = qnet.eval()
        self.check_grasp = not (epsilon or noise)  # greedy: ActionSpec.check_grasp; exploring: CEM's choice
        self.cem = cem
        self.spec = spec
        self.epsilon = epsilon
        self.noise = noise  # std of translation noise, as a fraction of max_translation
        self.rng = np.random.default_rng(0)
        self.last_q = float("nan")

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def act(self, observation: dict) -> np.ndarray:
        image = observation["image"][None]
        state = observation_state(observation)[None]
        best = cem_select(self.qnet, image, state, self.cem, self.rng, self.spec)
        self.last_q = float(1.0 / (1.0 + np.exp(-best.scores[0])))
        action = best.actions[0].copy()
        if self.epsilon and self.rng.random() < self.epsilon:
            action[:5] = self.rng.uniform(self.spec.low[:5], self.spec.high[:5])
        elif self.noise:
            action[:3] += self.rng.normal(0.0, self.noise * self.spec.max_translation, 3)
        action = self.spec.close_in_place(self.spec.clip(action))  # noise does not move a closing hand
        return self.spec.check_grasp(action, float(state[0, CLOSURE_INDEX])) if self.check_grasp else action


def load_run_policy(run_dir: str | Path, env=None, epsilon: float = 0.0, noise: float = 0.0) -> QTOptPolicy:
    """The greedy CEM policy of a training run's last checkpoint."""
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.is_file():
        raise UserError(f"{run_dir}: no {CHECKPOINT_NAME} (not a training run, or it has not saved yet)")
    torch.set_num_threads(1)  # small nets: one thread is fastest on this kind of machine
    try:
        learner, info = learner_from_checkpoint(path)
    except CheckpointError as error:
        raise UserError(str(error)) from None
    config = info.config
    if env is not None:
        height, width = env.observation_space["image"].shape[:2]
        if (height, width) != (info.image_size, info.image_size):
            raise UserError(f"{run_dir} was trained on {info.image_size}x{info.image_size} images, "
                            f"the environment renders {width}x{height}")
    cem, _ = run_acting_cem(run_dir, config.act_cem)
    return QTOptPolicy(learner.policy_net, cem, config.action_spec(), epsilon=epsilon, noise=noise)


def run_acting_cem(run_dir: str | Path, trained: CEMConfig) -> tuple[CEMConfig, dict | None]:
    """The CEM a run acts with, and the record of its choice: ``acting_cem.json`` if the run has one,
    else ``trained`` (its config's act_cem) and None."""
    from policies.runtime.input_files import InputFileError, load_json

    path = Path(run_dir) / ACTING_CEM_NAME
    if not path.exists():
        return trained, None
    try:
        record = load_json(path)
    except InputFileError as error:
        raise UserError(f"{path}: unreadable ({error.problem})") from None
    values = record.get("cem") if isinstance(record, dict) else None
    if not isinstance(values, dict) or set(values) != {"iterations", "samples", "elites", "initial_std"}:
        raise UserError(f"{path}: field cem must hold iterations, samples, elites and initial_std, got {values!r}")
    try:
        return CEMConfig(**values), record
    except (TypeError, ValueError) as error:
        raise UserError(f"{path}: field cem: {error}") from None


def write_acting_cem(run_dir: str | Path, cem: CEMConfig, choice: dict) -> Path:
    """Record the run's acting CEM (atomically); ``choice`` says how it was chosen."""
    import dataclasses
    import json

    from policies.runtime.files import atomic_write_bytes

    path = Path(run_dir) / ACTING_CEM_NAME
    atomic_write_bytes(path, json.dumps({"cem": dataclasses.asdict(cem), **choice}, indent=2).encode())
    return path


def make_policy(name: str, env: GraspEnv):
    """A scripted policy by name, or the CEM policy of a training run directory's last checkpoint."""
    if name in SCRIPTED_POLICIES:
        return SCRIPTED_POLICIES[name](env)
    if Path(name).is_dir():
        return load_run_policy(name, env)
    raise UserError(f"unknown policy {name!r}: expected one of {', '.join(SCRIPTED_POLICIES)} or a run directory")
