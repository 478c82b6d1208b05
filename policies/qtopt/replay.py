"""Replay: the episode file format, the offline store, the online buffer and the mixer.

Episode file format, version 1 (FORMAT_VERSION)
-----------------------------------------------
One episode of T steps (1 <= T <= MAX_EPISODE_STEPS) per ``.safetensors`` file:

    tensor    shape            dtype    meaning
    images    (T+1, H, W, 3)   uint8    observation image before each step, plus the last
    states    (T+1, 2)         float32  [gripper_closed, height above bin floor (m)]
    actions   (T, 8)           float32  see policies.runtime.spec
    rewards   (T,)             float32  reward after each step
    dones     (T,)             uint8    1 only at the last step, if the episode ended
                                        there (a time-limit cut leaves it 0: bootstrap)

The safetensors header metadata holds one key, ``workbench.replay``, whose value is a
JSON object: {"format_version": 1, "episode_id": str, "success": bool, "seed": int or
null, "policy": str, "info": {...}}. ``info`` is free-form JSON from the caller (e.g.
the randomization samples drawn for the episode). All float values must be finite.

Files are written atomically (temporary file in the same directory, fsync, os.replace),
so a reader never sees half an episode. Temporary names start with "." and end in
".tmp", so store listings ignore them. Nothing here uses pickle.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import safetensors.numpy

from policies.qtopt.batches import Transitions
from policies.runtime.files import FileProblem, atomic_write_bytes, read_safetensors_metadata
from policies.runtime.spec import ACTION_DIM, STATE_DIM

FORMAT_VERSION = 1
METADATA_KEY = "workbench.replay"
MAX_EPISODE_STEPS = 1000
EPISODE_SUFFIX = ".safetensors"
_EPISODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ReplayFormatError(FileProblem):
    """An episode file (or an episode about to be written) breaks the format."""


@dataclass(frozen=True)
class Episode:
    images: np.ndarray  # (T+1, H, W, 3) uint8
    states: np.ndarray  # (T+1, 2) float32
    actions: np.ndarray  # (T, 8) float32
    rewards: np.ndarray  # (T,) float32
    dones: np.ndarray  # (T,) uint8
    episode_id: str
    success: bool
    seed: int | None = None
    policy: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.actions.shape[0]

    def transitions(self, n_step: int = 1, gamma: float = 1.0) -> Transitions:
        """One transition per step; with ``n_step`` > 1, s' is up to n steps ahead.

        Step t folds the rewards of steps t .. t+k-1 (k = min(n, T - t)) into one,
        discounted by gamma per step, and bootstraps from s_{t+k}: fewer maximisations
        between a reward and the states that led to it, so less overestimation compounds.
        """
        if not isinstance(n_step, int) or n_step < 1:
            raise ValueError(f"n_step must be a positive integer, got {n_step!r}")
        start = np.arange(self.steps)
        horizons = np.minimum(n_step, self.steps - start)
        end = start + horizons
        rewards = np.zeros(self.steps, np.float64)
        for i in range(min(n_step, self.steps)):
            inside = horizons > i
            rewards[inside] += gamma**i * self.rewards[start[inside] + i]
        return Transitions(
            images=self.images[:-1],
            states=self.states[:-1],
            actions=self.actions,
            rewards=rewards.astype(np.float32),
            next_images=self.images[end],
            next_states=self.states[end],
            dones=self.dones[end - 1],
            horizons=horizons.astype(np.uint8),
        )


_EXPECTED_DTYPES = {
    "images": np.uint8,
    "states": np.float32,
    "actions": np.float32,
    "rewards": np.float32,
    "dones": np.uint8,
}


def episode_problems(tensors: dict[str, np.ndarray], max_steps: int = MAX_EPISODE_STEPS) -> list[str]:
    """Everything wrong with an episode's arrays, as readable sentences (empty if valid)."""
    missing = [name for name in _EXPECTED_DTYPES if name not in tensors]
    if missing:
        return [f"missing tensor(s) {', '.join(missing)}"]
    extra = sorted(set(tensors) - set(_EXPECTED_DTYPES))
    problems = [f"unexpected tensor(s) {', '.join(extra)}"] if extra else []
    for name, dtype in _EXPECTED_DTYPES.items():
        if tensors[name].dtype != dtype:
            problems.append(f"{name} has dtype {tensors[name].dtype.name}, expected {np.dtype(dtype).name}")
    if problems:
        return problems

    images, states, actions, rewards, dones = (tensors[n] for n in _EXPECTED_DTYPES)
    if actions.ndim != 2 or actions.shape[1] != ACTION_DIM:
        return [f"actions has shape {actions.shape}, expected (T, {ACTION_DIM})"]
    steps = actions.shape[0]
    if not 1 <= steps <= max_steps:
        return [f"episode has {steps} steps, expected 1 to {max_steps}"]
    if images.ndim != 4 or images.shape[0] != steps + 1 or images.shape[3] != 3 or 0 in images.shape:
        problems.append(f"images has shape {images.shape}, expected (T+1={steps + 1}, H, W, 3)")
    if states.shape != (steps + 1, STATE_DIM):
        problems.append(f"states has shape {states.shape}, expected ({steps + 1}, {STATE_DIM})")
    if rewards.shape != (steps,):
        problems.append(f"rewards has shape {rewards.shape}, expected ({steps},)")
    if dones.shape != (steps,):
        problems.append(f"dones has shape {dones.shape}, expected ({steps},)")
    if problems:
        return problems
    for name in ("states", "actions", "rewards"):
        if not np.all(np.isfinite(tensors[name])):
            problems.append(f"{name} has non-finite values")
    if not np.all(dones <= 1):
        problems.append("dones must be 0 or 1")
    elif np.any(dones[:-1]):
        problems.append("dones is 1 before the last step")
    return problems


def _metadata_problems(meta: Any) -> list[str]:
    if not isinstance(meta, dict):
        return ["metadata is not a JSON object"]
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        return [f"format version {version!r} is not supported (expected {FORMAT_VERSION})"]
    problems = []
    expected = {"episode_id": str, "success": bool, "policy": str, "info": dict}
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind):
            problems.append(f"metadata field {key!r} must be {kind.__name__}, got {meta.get(key)!r}")
    seed = meta.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.append(f"metadata field 'seed' must be an integer or null, got {seed!r}")
    extra = sorted(set(meta) - set(expected) - {"format_version", "seed"})
    if extra:
        problems.append(f"unexpected metadata field(s) {', '.join(extra)}")
    return problems


def _json_default(value: Any) -> Any:
    # Randomization samples are often numpy scalars or small arrays.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_episode(path: str | os.PathLike, episode: Episode) -> None:
    """Validate ``episode`` and write it atomically to ``path`` (ReplayFormatError if invalid)."""
    path = Path(path)
    tensors = {name: getattr(episode, name) for name in _EXPECTED_DTYPES}
    if not all(isinstance(t, np.ndarray) for t in tensors.values()):
        raise ReplayFormatError(path, "episode arrays must be numpy arrays")
    meta = {
        "format_version": FORMAT_VERSION,
        "episode_id": episode.episode_id,
        "success": episode.success,
        "seed": episode.seed,
        "policy": episode.policy,
        "info": episode.info,
    }
    try:
        meta_json = json.dumps(meta, default=_json_default, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ReplayFormatError(path, f"metadata is not finite JSON: {error}") from None
    problems = episode_problems(tensors) + _metadata_problems(json.loads(meta_json))
    if problems:
        raise ReplayFormatError(path, "; ".join(problems))
    data = safetensors.numpy.save(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata={METADATA_KEY: meta_json}
    )
    atomic_write_bytes(path, data)


def read_episode(path: str | os.PathLike, max_steps: int = MAX_EPISODE_STEPS) -> Episode:
    """Read and fully validate one episode file; ReplayFormatError names the file and the problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ReplayFormatError(path, f"cannot read file ({error.strerror or error})") from None
    try:
        raw_meta = read_safetensors_metadata(data)
        tensors = safetensors.numpy.load(data)
    except Exception as error:  # the safetensors library raises its own error types
        raise ReplayFormatError(path, f"not a readable safetensors file (truncated or corrupt?): {error}") from None
    if METADATA_KEY not in raw_meta:
        raise ReplayFormatError(path, f"no {METADATA_KEY!r} metadata in the header")
    try:
        meta = json.loads(raw_meta[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ReplayFormatError(path, f"metadata is not valid JSON ({error})") from None
    problems = _metadata_problems(meta) or episode_problems(tensors, max_steps)
    if problems:
        raise ReplayFormatError(path, "; ".join(problems))
    return Episode(
        **tensors,
        episode_id=meta["episode_id"],
        success=meta["success"],
        seed=meta["seed"],
        policy=meta["policy"],
        info=meta["info"],
    )


class OfflineStore:
    """A directory of episode files: list, count, add, and load as flat transitions."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.suffix == EPISODE_SUFFIX and not p.name.startswith("."))

    def __len__(self) -> int:
        return len(self.paths())

    def add(self, episode: Episode) -> Path:
        """Write ``episode`` as ``<episode_id>.safetensors``, refusing to overwrite."""
        if not _EPISODE_ID.match(episode.episode_id):
            raise ReplayFormatError(
                self.directory, f"episode id {episode.episode_id!r} is not a safe file name (letters, digits, _ . -)"
            )
        path = self.directory / f"{episode.episode_id}{EPISODE_SUFFIX}"
        if path.exists():
            raise FileExistsError(f"{path}: an episode with this id is already stored")
        self.directory.mkdir(parents=True, exist_ok=True)
        write_episode(path, episode)
        return path

    def episodes(self) -> Iterator[Episode]:
        for path in self.paths():
            yield read_episode(path)

    def load_transitions(self) -> Transitions:
        """All stored episodes as one flat set of transitions (images stay uint8)."""
        parts, image_shape, first_path = [], None, None
        for path in self.paths():
            episode = read_episode(path)
            if image_shape is None:
                image_shape, first_path = episode.images.shape[1:], path
            elif episode.images.shape[1:] != image_shape:
                raise ReplayFormatError(
                    path, f"images are {episode.images.shape[1:]}, but {first_path.name} has {image_shape}"
                )
            parts.append(episode.transitions())
        if not parts:
            raise ValueError(f"{self.directory}: no episodes stored")
        return Transitions.concatenate(parts)


class OnlineBuffer:
    """An in-memory ring of the most recent ``capacity`` transitions.

    Arrays are allocated on the first add, when the image size is known.
    """

    def __init__(self, capacity: int, n_step: int = 1, gamma: float = 1.0):
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self.n_step, self.gamma = n_step, gamma  # how add_episode cuts episodes into transitions
        self._storage: dict[str, np.ndarray] | None = None
        self._next = 0  # where the next transition goes
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, transitions: Transitions) -> None:
        names = [f.name for f in fields(Transitions)]
        if self._storage is None:
            self._storage = {
                n: np.zeros((self.capacity, *getattr(transitions, n).shape[1:]), getattr(transitions, n).dtype)
                for n in names
            }
        elif transitions.images.shape[1:] != self._storage["images"].shape[1:]:
            raise ValueError(
                f"images are {transitions.images.shape[1:]}, buffer holds {self._storage['images'].shape[1:]}"
            )
        count = len(transitions)
        keep = min(count, self.capacity)  # more than capacity at once: only the newest fit
        slots = (self._next + np.arange(keep)) % self.capacity
        for n in names:
            self._storage[n][slots] = getattr(transitions, n)[count - keep :]
        self._next = int((self._next + keep) % self.capacity)
        self._size = min(self._size + keep, self.capacity)

    def add_episode(self, episode: Episode) -> None:
        self.add(episode.transitions(self.n_step, self.gamma))

    def take(self, indices: np.ndarray) -> Transitions:
        """Transitions at ``indices`` in [0, len): slot order, not age order."""
        if self._storage is None:
            raise IndexError("the online buffer is empty")
        indices = np.asarray(indices)
        if indices.size and (indices.min() < 0 or indices.max() >= self._size):
            raise IndexError(f"indices must be in [0, {self._size})")
        return Transitions(**{n: a[indices] for n, a in self._storage.items()})


class TransitionSource(Protocol):
    def __len__(self) -> int: ...

    def take(self, indices: np.ndarray) -> Transitions: ...


class ReplayMixer:
    """Samples batches with a fraction from offline data and the rest from the online buffer.

    The number of offline rows per batch is Binomial(batch_size, offline_fraction), so the
    fraction holds in expectation even for small batches. When one source is empty, the
    whole batch comes from the other. Rows are drawn uniformly with replacement.
    """

    def __init__(
        self,
        offline: TransitionSource | None,
        online: TransitionSource | None,
        offline_fraction: float = 0.5,
    ):
        if not 0.0 <= offline_fraction <= 1.0:
            raise ValueError(f"offline_fraction must be in [0, 1], got {offline_fraction!r}")
        self.offline = offline
        self.online = online
        self.offline_fraction = offline_fraction

    def sample(self, batch_size: int, rng: np.random.Generator) -> Transitions:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size!r}")
        offline_size = len(self.offline) if self.offline is not None else 0
        online_size = len(self.online) if self.online is not None else 0
        if offline_size == 0 and online_size == 0:
            raise ValueError("cannot sample: both offline data and the online buffer are empty")
        if online_size == 0:
            n_offline = batch_size
        elif offline_size == 0:
            n_offline = 0
        else:
            n_offline = int(rng.binomial(batch_size, self.offline_fraction))
        parts = []
        if n_offline:
            parts.append(self.offline.take(rng.integers(0, offline_size, n_offline)))
        if batch_size - n_offline:
            parts.append(self.online.take(rng.integers(0, online_size, batch_size - n_offline)))
        return parts[0] if len(parts) == 1 else Transitions.concatenate(parts)


class EpisodeReplay:
    """A directory of episodes as a transition source that grows as episodes appear.

    Holds the newest ``capacity`` transitions (a policies.qtopt.replay.OnlineBuffer); ``refresh``
    reads episodes other processes (collectors) wrote since the last call.
    """

    def __init__(self, directory: Path, capacity: int, n_step: int = 1, gamma: float = 1.0):
        self.store = OfflineStore(directory)
        self.buffer = OnlineBuffer(capacity, n_step, gamma)
        self.loaded: set[str] = set()
        self.episodes = self.successes = 0
        self.recent_success: deque[bool] = deque(maxlen=50)  # of the last episodes added, whoever collected them
        self.image_shape: tuple | None = None

    def refresh(self) -> int:
        new = [path for path in self.store.paths() if path.name not in self.loaded]
        for path in new:
            episode = read_episode(path)
            self.add(episode, path.name, str(path))
        return len(new)

    def add(self, episode, name: str, where: str) -> None:
        shape = episode.images.shape[1:]
        if self.image_shape is not None and shape != self.image_shape:
            raise ReplayFormatError(where, f"images are {shape}, earlier episodes are {self.image_shape}")
        self.image_shape = shape
        self.buffer.add_episode(episode)
        self.loaded.add(name)
        self.episodes += 1
        self.successes += episode.success
        self.recent_success.append(episode.success)

    def __len__(self) -> int:
        return len(self.buffer)

    def take(self, indices: np.ndarray) -> Transitions:
        return self.buffer.take(indices)
