"""The grasping environment: a `gymnasium.Env` with QT-Opt's spaces.

Observation: `image` (H, W, 3) uint8 from the scene's camera (a wrist camera in `bin_grasp`),
`gripper_closed` (1,), the measured finger closure (0 open .. 1 closed; an object
in hand stops it short of 1), and `height` (1,), the fingertip height above the
bin floor in metres. Action (8,): translation dx, dy, dz in metres per step, the
rotation about the vertical axis as (sin, cos), then close, open and
terminate, each acted on above 0.5. The policy closes and terminates by
itself: nothing closes the gripper for it. When an episode ends (terminate or
`max_steps`) the hand lifts to its start height and the grasp is judged there
(`GraspTask.lift_and_check`), so a policy needs to close, not to lift.

Each reset draws the episode's objects from the scene's split and rebuilds the
model only when the set of objects changed. `reset(options={"start_seed": S})`
draws the objects and their drop from S instead and keeps the settled result
(`scenes.settled`): later resets with the same S start from it, turned about
the bin's axis by the episode's seed, without a rebuild or a second of settling. `info` carries the true success,
the library ids of the objects, and the physics state needed to re-render
the step.

A randomization profile (`profile=`, "none" by default) draws and applies
its samples after the task's reset and, for per-step randomizers, before each
observation; `info["randomization"]` records them (the episode's at reset,
the step's after each step) so `randomizers.rerender` can reproduce the frames.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco's GL is first used

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from policies.runtime.spec import (  # noqa: E402
    BINARY_THRESHOLD,
    OPEN_INDEX,
    ROTATION_DIMS,
    TERMINATE_INDEX,
    TRANSLATION_DIMS,
    ActionSpec,
    closes_gripper,
)
from randomizers import Profile, Randomization  # noqa: E402
from scenes.build import Scene  # noqa: E402
from scenes.render import SceneRenderer  # noqa: E402
from scenes.settled import STATE_SPEC as SETTLED_SPEC  # noqa: E402
from scenes.settled import SettledStart, SettledStarts, capture_state, draw_turn, turn_objects  # noqa: E402
from scenes.spec import SceneSpec, load_scene  # noqa: E402
from scenes.task import GraspTask  # noqa: E402
from workbench import ENV_ID  # noqa: E402,F401  (re-exported)

STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION  # everything needed to resume or re-render


class GraspEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, scene: str | Path | SceneSpec = "bin_grasp", *, split: str | None = None,
                 image_size: int | None = None, render_mode: str | None = None,
                 profile: str | Path | Profile | None = None):
        self.spec_scene = scene if isinstance(scene, SceneSpec) else load_scene(scene)
        if image_size is not None:
            camera = self.spec_scene.camera.model_copy(update={"width": image_size, "height": image_size})
            self.spec_scene = self.spec_scene.model_copy(update={"camera": camera})
        if split not in (None, "train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split = split or self.spec_scene.objects.split
        self.render_mode = render_mode
        cam, task = self.spec_scene.camera, self.spec_scene.task
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (cam.height, cam.width, 3), np.uint8),
            "gripper_closed": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
            "height": gym.spaces.Box(-0.1, 1.0, (1,), np.float32),
        })
        self.action_spec = ActionSpec(task.max_translation)  # the one action contract (policies.runtime.spec)
        self.action_space = gym.spaces.Box(low=self.action_spec.low.copy(), high=self.action_spec.high.copy())
        self.renderer = SceneRenderer(cam.width, cam.height)
        self.scene: Scene | None = None
        self.task: GraspTask | None = None
        self.data: mujoco.MjData | None = None
        self.steps = 0
        self._image: np.ndarray | None = None
        self.clean_image: np.ndarray | None = None  # the render before image augmentation
        self.randomization = Randomization(profile)  # None is the "none" profile: nothing changes
        self._scales: tuple[float, ...] | None = None  # object scales of the current model
        self._randomization_info: dict = {}
        self.settled_starts = SettledStarts()  # by (start seed, given ids), for reset(options={"start_seed": ...})

    # -- gym API -------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        objects = self.spec_scene.objects
        given = tuple(options.get("object_ids") or objects.ids)
        if options.get("start_seed") is None:
            self._drop_objects(self.np_random, given)
        else:
            self._reuse_start(options["start_seed"], given)
        self._randomization_info = self.randomization.start_episode(
            self.np_random, self.scene, self.data, self.renderer, self._scales)
        self.steps = 0
        return self._observe(), self._info(success=False)

    def step(self, action):
        action = self.action_spec.clip(np.asarray(action, np.float32))
        task = self.spec_scene.task
        sin, cos = action[list(ROTATION_DIMS)]
        yaw_delta = math.atan2(float(sin), float(cos)) / math.pi * task.max_rotation
        close = None  # None: the fingers keep their command
        if closes_gripper(action):
            close = True
        elif action[OPEN_INDEX] > BINARY_THRESHOLD:
            close = False
        self.task.apply(self.data, action[list(TRANSLATION_DIMS)].astype(np.float64), yaw_delta, close)
        self.steps += 1
        terminated = bool(action[TERMINATE_INDEX] > BINARY_THRESHOLD) or self.steps >= task.max_steps
        success = terminated and self.task.lift_and_check(self.data) is not None
        reward = 1.0 if success else -task.step_penalty
        # Per-step randomizers fire before the observation they change.
        self._randomization_info = self.randomization.step(self.np_random, self.scene, self.data, self.renderer)
        return self._observe(), reward, terminated, False, self._info(success)

    def render(self):
        return None if self._image is None else self._image.copy()

    def close(self):
        self.renderer.close()

    # -- helpers ---------------------------------------------------------------
    def _drop_objects(self, rng: np.random.Generator, given: tuple[int, ...]) -> None:
        # Given ids stay; else the split's ids, or the object randomizer's (train split only).
        ids, scales = self.randomization.choose_objects(rng, self.split, self.spec_scene.objects, given)
        self._load_objects(ids, scales)
        self.randomization.restore_physics(self.scene, self.renderer)  # objects settle under nominal physics
        self.task.reset(self.data, rng)

    def _reuse_start(self, start_seed, given: tuple[int, ...]) -> None:
        """The settled start drawn from `start_seed` (dropped now if not kept), turned by the episode's draw."""
        if isinstance(start_seed, bool) or not isinstance(start_seed, (int, np.integer)) or start_seed < 0:
            raise ValueError(f"reset option start_seed must be a non-negative integer, got {start_seed!r}")
        key = (int(start_seed), given)
        start = self.settled_starts.get(key)
        if start is None:
            self._drop_objects(np.random.default_rng(int(start_seed)), given)
            start = self.settled_starts.put(key, SettledStart(
                self.scene.object_ids, self._scales, capture_state(self.scene.model, self.data)))
        else:
            self._load_objects(start.object_ids, start.scales)
            self.randomization.restore_physics(self.scene, self.renderer)
            self.task.restore(self.data, start.state, SETTLED_SPEC)
        turn_objects(self.scene, self.data, draw_turn(self.np_random, self.scene))
        mujoco.mj_forward(self.scene.model, self.data)

    def _load_objects(self, ids: tuple[int, ...], scales: tuple[float, ...] | None = None) -> None:
        if self.scene is not None and (self.scene.object_ids, self._scales) == (ids, scales):
            return  # same objects: keep the compiled model and render context
        self.scene = self.randomization.build_scene(self.spec_scene, ids, scales)  # compiled, or cached
        self._scales = scales
        self.task = GraspTask(self.scene)
        self.data = mujoco.MjData(self.scene.model)
        self.renderer.set_model(self.scene.model, self.scene.handles.camera)

    def _observe(self) -> dict:
        self.clean_image = self.renderer.render(self.data)
        self._image = self.randomization.augment(self.clean_image)
        return {
            "image": self._image,
            "gripper_closed": np.array([self.task.finger_closure(self.data)], np.float32),
            "height": np.array([self.task.gripper_height(self.data)], np.float32),
        }

    def _info(self, success: bool) -> dict:
        return {
            "success": success,
            "object_ids": self.scene.object_ids,
            "step": self.steps,
            "physics_state": self.physics_state(),
            "randomization": self._randomization_info,  # the episode's samples at reset, the step's after
        }

    def physics_state(self) -> np.ndarray:
        state = np.empty(mujoco.mj_stateSize(self.scene.model, STATE_SPEC))
        mujoco.mj_getState(self.scene.model, self.data, state, STATE_SPEC)
        return state

    def privileged_view(self) -> dict:
        """True poses, for scripted oracles and tests only; a policy never sees this."""
        h = self.scene.handles
        return {
            "gripper_pos": self.data.xpos[h.gripper.hand].copy(),
            "gripper_yaw": self.task.target_yaw,
            "bin_floor_z": h.bin_floor_z,
            "object_pos": np.array([self.data.xpos[o.body] for o in h.objects]),
            "object_xmat": np.array([self.data.geom_xmat[o.geom].reshape(3, 3) for o in h.objects]),
            "object_half_extents": np.array([self.scene.model.geom_aabb[o.geom][3:] for o in h.objects]),
            "object_half_height": np.array([o.half_height for o in h.objects]),
        }


def observation_state(observation: dict) -> np.ndarray:
    """QT-Opt's state vector [gripper_closed, height], float32 (2,)."""
    return np.array([observation["gripper_closed"][0], observation["height"][0]], dtype=np.float32)
