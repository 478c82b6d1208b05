"""Scripted grasping policies: an oracle and QT-Opt's noisy bootstrap explorer.

Both act through the same 8-d action as a learned policy. The oracle reads
true object poses (it proves the physics supports grasping); the explorer
sees only what a real robot knows (its own commanded motion and height) and
grasps at a random point in the bin, like QT-Opt's scripted bootstrap policy.
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


SCRIPTED_POLICIES = {"oracle": OraclePolicy, "explorer": ExplorerPolicy}
