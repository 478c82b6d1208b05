"""Settled start states, kept and reused instead of dropped and settled every episode.

A reset that drops the objects costs a compile, a render context and a second
of physics (~50 ms against ~7 ms a control step). A `SettledStart` keeps what
that reset produced (object ids, scales, and the physics state after settling)
so later episodes start from it in a few milliseconds. Each reuse turns the
whole pile about the bin's vertical axis by a multiple of 90 degrees (180 when
the bin or the table is not square), drawn by the episode: the drop positions
are uniform over a bin symmetric under that turn and the orientations uniform,
and physics does not care which way the bin faces, so a turned pile is as
likely a start as the pile itself and is just as settled (positions move
exactly: the turn only swaps and negates coordinates).

`SettledStarts` holds the last few, keyed by what the caller drew them from
(`GraspEnv.reset(options={"start_seed": ...})`), so an episode is a function of
its start seed and its own seed only, never of the episodes before it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import mujoco
import numpy as np

from scenes.build import Scene

STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION | mujoco.mjtState.mjSTATE_WARMSTART
# cos and sin of k * 90 degrees, exact; the quaternion's half angle cannot be exact and need not be.
_QUARTER_TURNS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))


@dataclass(frozen=True)
class SettledStart:
    object_ids: tuple[int, ...]
    scales: tuple[float, ...] | None
    state: np.ndarray  # STATE_SPEC of the data after GraspTask.reset


def capture_state(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    state = np.empty(mujoco.mj_stateSize(model, STATE_SPEC))
    mujoco.mj_getState(model, data, state, STATE_SPEC)
    return state


def turns_allowed(scene: Scene) -> int:
    """How many quarter-turn steps the scene is symmetric under: 4 if bin and table are square, else 2.

    2 means the turns 0 and 180 degrees (quarter_turns 0 and 2 of `turn_objects`).
    """
    spec = scene.spec
    square = spec.bin.inner_size[0] == spec.bin.inner_size[1] and spec.table.half_size[0] == spec.table.half_size[1]
    return 4 if square else 2


def draw_turn(rng: np.random.Generator, scene: Scene) -> int:
    """Quarter turns (0..3) for one episode: uniform over the turns the scene allows."""
    allowed = turns_allowed(scene)
    return int(rng.integers(allowed)) * (4 // allowed)


def turn_objects(scene: Scene, data: mujoco.MjData, quarter_turns: int) -> None:
    """Turn every object's pose (velocity, warm start) about the bin's vertical axis (the world z axis)."""
    if quarter_turns % 4 == 0:
        return
    c, s = _QUARTER_TURNS[quarter_turns % 4]
    half = quarter_turns % 4 * np.pi / 4
    turn = np.array([np.cos(half), 0.0, 0.0, np.sin(half)])
    quat = np.empty(4)
    for obj in scene.handles.objects:
        q, v = obj.qpos_adr, obj.qvel_adr
        x, y = data.qpos[q], data.qpos[q + 1]
        data.qpos[q], data.qpos[q + 1] = c * x - s * y, s * x + c * y
        mujoco.mju_mulQuat(quat, turn, data.qpos[q + 3:q + 7])
        data.qpos[q + 3:q + 7] = quat / np.linalg.norm(quat)
        # A free joint's linear velocity is in the world frame (turns), its angular one in the body's (does not).
        for vector in (data.qvel, data.qacc_warmstart):
            x, y = vector[v], vector[v + 1]
            vector[v], vector[v + 1] = c * x - s * y, s * x + c * y


class SettledStarts:
    """The last `size` settled starts, by key (least recently used dropped first)."""

    def __init__(self, size: int = 4):
        if size < 1:
            raise ValueError(f"SettledStarts size must be at least 1, got {size}")
        self.size = size
        self._starts: OrderedDict[object, SettledStart] = OrderedDict()

    def get(self, key) -> SettledStart | None:
        start = self._starts.get(key)
        if start is not None:
            self._starts.move_to_end(key)
        return start

    def put(self, key, start: SettledStart) -> SettledStart:
        self._starts[key] = start
        self._starts.move_to_end(key)
        while len(self._starts) > self.size:
            self._starts.popitem(last=False)
        return start

    def __len__(self) -> int:
        return len(self._starts)
