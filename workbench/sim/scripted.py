"""Scripted grasping policies: an oracle, QT-Opt's noisy bootstrap explorer, and the explorer aimed.

All act through the same 8-d action as a learned policy. The oracle reads
true object poses (it proves the physics supports grasping); the explorer
sees only what a real robot knows (its own commanded motion and height) and
grasps at a random point in the bin, like QT-Opt's scripted bootstrap policy.
The guided explorer is the explorer aimed, in a share of its episodes, near a
true object: a simulation-only data collector (it reads true poses), never a
baseline.
"""

from __future__ import annotations

import numpy as np

from scenes.grippers import grasp_geometry
from workbench.sim.env import GraspEnv
from workbench.sim.part_grasp import choose_part_grasp, part_centre


def make_action(translation, yaw_delta_fraction=0.0, close=False, open_=False, terminate=False) -> np.ndarray:
    """An 8-d action; the rotation is a fraction of the max per-step rotation."""
    angle = float(np.clip(yaw_delta_fraction, -1, 1)) * np.pi
    return np.array([*translation, np.sin(angle), np.cos(angle), float(close), float(open_), float(terminate)],
                    np.float32)


def _toward(current, goal, max_step):
    delta = np.asarray(goal, float) - np.asarray(current, float)
    norm = np.abs(delta).max()
    return delta if norm <= max_step else delta * (max_step / norm)


class OraclePolicy:
    """Picks the highest object, aligns, descends, closes and terminates (the environment lifts).

    Among household (compound) objects it picks a part instead: the highest one
    the open hand reaches without a collision (`workbench.sim.part_grasp`).
    """

    name = "oracle"

    def __init__(self, env: GraspEnv):
        self.env = env

    def reset(self, rng: np.random.Generator) -> None:
        self.phase, self.target, self.wait = "approach", None, 0
        self.part = None  # a PartGrasp when the scene holds compound objects and one is reachable

    def act(self, observation: dict) -> np.ndarray:
        env = self.env.unwrapped
        view = env.privileged_view()
        task = env.spec_scene.task
        step, rot = task.max_translation, task.max_rotation
        pos = view["gripper_pos"]
        floor = view["bin_floor_z"]
        if self.target is None:
            self.grasp = grasp_geometry(env.spec_scene.gripper)
            if any(o.compound for o in env.scene.handles.objects):
                self.part = choose_part_grasp(env, _grasp_yaw)
            if self.part is not None:
                self.target, self.goal_yaw = self.part.object_index, self.part.yaw
            else:
                index = _pick_object(view["object_pos"], env.scene.handles.bin_half_size, floor,
                                     self.grasp.wall_clearance)
                self.target = index
                self.goal_yaw = _grasp_yaw(view["object_xmat"][index], view["object_half_extents"][index])
        obj = view["object_pos"][self.target]
        grasp_z, approach_z = obj[2] - self.grasp.depth, obj[2] + 0.05
        if self.part is not None:  # follow the part: aim at its centre, fingertips at the chosen depth
            obj = part_centre(env.scene.model, env.data, self.part.geom)
            grasp_z = obj[2] + self.part.depth
            approach_z = grasp_z + 0.055
        yaw_error = float(np.remainder(self.goal_yaw - view["gripper_yaw"] + np.pi / 2, np.pi) - np.pi / 2)
        yaw_fraction = np.clip(yaw_error / rot, -1, 1)
        if self.phase == "approach":
            goal = np.clip([obj[0], obj[1], max(floor + 0.09, approach_z)], env.task.low, env.task.high)
            move = _toward(pos, goal, step)
            if np.abs(goal - pos)[:2].max() < 0.01 and abs(yaw_error) < 0.1:
                self.phase = "descend"
            return make_action(move, yaw_fraction)
        if self.phase == "descend":
            goal = np.clip([obj[0], obj[1], max(floor + 0.004, grasp_z)], env.task.low, env.task.high)
            move = _toward(pos, goal, step)
            if abs(goal[2] - pos[2]) < 0.01:
                self.phase = "close"
            return make_action(move, yaw_fraction)
        if self.phase == "close":  # two steps: let the fingers squeeze before the end-of-episode lift
            self.wait += 1
            if self.wait == 2:
                self.phase = "done"
            return make_action([0, 0, 0], close=True)
        return make_action([0, 0, 0], close=True, terminate=True)


def _pick_object(positions: np.ndarray, bin_half_size, floor_z: float, wall_clearance: float) -> int:
    """The highest object clear of the walls (the open fingers need room), else the most central one."""
    clearance = np.min(np.asarray(bin_half_size) - np.abs(positions[:, :2]), axis=1)
    in_bin = positions[:, 2] < floor_z + 0.15
    clear = (clearance > wall_clearance) & in_bin
    if clear.any():
        return int(np.argmax(np.where(clear, positions[:, 2], -np.inf)))
    return int(np.argmax(np.where(in_bin, clearance, -np.inf)))


def _grasp_yaw(xmat: np.ndarray, half_extents: np.ndarray) -> float:
    """Yaw that closes the fingers (the hand's y axis) across the object's narrowest horizontal axis."""
    axes = xmat.T  # rows: the object's axes in the world frame
    horizontal = [i for i in range(3) if abs(axes[i][2]) < 0.7] or [0, 1, 2]
    axis = axes[min(horizontal, key=lambda i: half_extents[i])]
    return float(np.arctan2(axis[1], axis[0]) - np.pi / 2)


class ExplorerPolicy:
    """Random point in the bin, descend, close, terminate, with action noise.

    `noise` is the std of Gaussian noise on each translation while reaching, in
    units of the per-step maximum; `random_action_prob` replaces a reaching
    step with a random move. `random_gripper_prob` adds, at any step, one
    random gripper command (close, open or terminate) to the scripted action:
    without such data a Q-function never sees that terminating with an open
    hand, closing in mid-air or opening while lifting fails, and CEM, which
    maximises over every action, picks whatever the network guesses there.
    """

    name = "explorer"

    def __init__(self, env: GraspEnv, noise: float = 0.05, random_action_prob: float = 0.02,
                 random_gripper_prob: float = 0.03):
        self.env = env
        self.noise = noise
        self.random_action_prob = random_action_prob
        self.random_gripper_prob = random_gripper_prob

    def reset(self, rng: np.random.Generator) -> None:
        env = self.env.unwrapped
        hx, hy = env.scene.handles.bin_half_size
        self.rng = rng
        self.offset = np.zeros(3)  # commanded motion since reset: what a robot knows of itself
        self.goal_xy = rng.uniform([-hx * 0.8, -hy * 0.8], [hx * 0.8, hy * 0.8])
        self.grasp_height = rng.uniform(0.0, 0.012)
        self.yaw = rng.uniform(-1, 1)
        self.phase = "approach"
        self.last_height = np.inf

    def act(self, observation: dict) -> np.ndarray:
        action = self._scripted_action(observation)
        if self.rng.random() < self.random_gripper_prob:
            action[5:8] = 0.0
            action[5 + self.rng.integers(3)] = 1.0  # close, open or terminate
        return action

    def _scripted_action(self, observation: dict) -> np.ndarray:
        task = self.env.unwrapped.spec_scene.task
        step = task.max_translation
        height = float(observation["height"][0])
        self.last_height, previous = height, self.last_height
        exploring = self.phase in ("approach", "descend")  # noise picks where to grasp, not how
        if exploring and self.rng.random() < self.random_action_prob:
            action = self._random_action(step)
            self.offset += action[:3]
            return action
        if self.phase == "approach":
            move = _toward(self.offset[:2], self.goal_xy, step)
            dz = float(np.clip(self.grasp_height + 0.06 - height, -step, step))
            action = make_action([*move, dz], self.yaw)
            self.yaw = 0.0  # rotate once, on the first step
            if np.abs(self.goal_xy - self.offset[:2]).max() < 0.005:
                self.phase = "descend"
        elif self.phase == "descend":
            dz = float(np.clip(self.grasp_height - height, -step, step))
            action = make_action([0, 0, dz])
            # Close at the grasp height, or when blocked (fingers resting on an object).
            if abs(self.grasp_height - height) < 0.01 or previous - height < 0.004:
                self.phase = "close"
        elif self.phase == "close":
            action = make_action([0, 0, 0], close=True)
            self.phase = "done"
        else:  # the fingers have squeezed for a step; the environment lifts and judges the grasp
            return make_action([0, 0, 0], close=True, terminate=True)
        if exploring:
            action[:3] += self.rng.normal(0, self.noise * step, size=3).astype(np.float32)
        action[:3] = np.clip(action[:3], -step, step)
        self.offset += action[:3]
        return action

    def _random_action(self, step: float) -> np.ndarray:
        translation = self.rng.uniform(-step, step, size=3)
        return make_action(translation, self.rng.uniform(-1, 1))


class GuidedExplorerPolicy(ExplorerPolicy):
    """The explorer, aimed in a share ``aim_prob`` of its episodes: it grasps near a true object
    (position off by ``aim_noise`` m, yaw by ``yaw_noise`` rad, close height by ``height_noise`` m,
    each a Gaussian std) instead of at a random point, and turns toward the object's grasp yaw while
    it reaches. Otherwise, and in everything else (action noise, random gripper commands), it is the
    explorer.

    Why: the blind explorer succeeds in about a quarter of its episodes, and its failures are mostly
    far from any object, so offline data shows a Q-function few grasps near the line between a hold
    and a slip. Aimed episodes with noise put successes and near misses side by side. Simulation
    only: it reads true poses, as the oracle does.
    """

    name = "guided"

    def __init__(self, env: GraspEnv, aim_prob: float = 0.5, aim_noise: float = 0.015, yaw_noise: float = 0.3,
                 height_noise: float = 0.005, **explorer_settings):
        super().__init__(env, **explorer_settings)
        self.aim_prob, self.aim_noise = aim_prob, aim_noise
        self.yaw_noise, self.height_noise = yaw_noise, height_noise

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.goal_yaw = None
        if rng.random() >= self.aim_prob:
            return
        env = self.env.unwrapped
        view = env.privileged_view()
        floor = view["bin_floor_z"]
        in_bin = np.flatnonzero(view["object_pos"][:, 2] < floor + 0.15)
        if in_bin.size == 0:
            return
        index = int(rng.choice(in_bin))
        obj = view["object_pos"][index]
        depth = grasp_geometry(env.spec_scene.gripper).depth
        self.goal_xy = obj[:2] - view["gripper_pos"][:2] + rng.normal(0, self.aim_noise, 2)
        self.grasp_height = max(0.004, obj[2] - depth - floor + rng.normal(0, self.height_noise))
        self.goal_yaw = (_grasp_yaw(view["object_xmat"][index], view["object_half_extents"][index])
                         + rng.normal(0, self.yaw_noise))
        self.yaw = 0.0  # the explorer's one random turn: replaced by turning toward goal_yaw

    def act(self, observation: dict) -> np.ndarray:
        reaching = self.phase in ("approach", "descend")
        action = super().act(observation)
        if self.goal_yaw is not None and reaching:
            env = self.env.unwrapped
            yaw_error = float(np.remainder(self.goal_yaw - env.task.target_yaw + np.pi / 2, np.pi) - np.pi / 2)
            angle = float(np.clip(yaw_error / env.spec_scene.task.max_rotation, -1, 1)) * np.pi
            action[3:5] = np.sin(angle), np.cos(angle)
        return action


SCRIPTED_POLICIES = {"oracle": OraclePolicy, "explorer": ExplorerPolicy, "guided": GuidedExplorerPolicy}
