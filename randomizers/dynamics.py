"""Dynamics: finger force and gain, joint damping and a small timestep jitter.

The fingers are position actuators: gain kp sits in gainprm[0] and -kp in
biasprm[1], so both scale together. The task keeps its number of substeps per
control step, so a timestep jitter also jitters the control period a little.
"""

from __future__ import annotations

import numpy as np

from randomizers.base import Randomizer, SceneTarget, uniform
from randomizers.config import DynamicsParams
from scenes.build import Scene


class DynamicsRandomizer(Randomizer):
    name = "dynamics"
    fields = ("actuator_gainprm", "actuator_biasprm", "actuator_forcerange", "dof_damping", "opt.timestep")
    params: DynamicsParams

    def draw(self, rng: np.random.Generator, scene: Scene) -> dict:
        p = self.params
        return {
            "finger_force_scale": uniform(rng, p.finger_force_scale),
            "finger_gain_scale": uniform(rng, p.finger_gain_scale),
            "damping_scale": uniform(rng, p.damping_scale),
            "timestep_scale": uniform(rng, p.timestep_scale),
        }

    def apply(self, sample: dict, target: SceneTarget) -> None:
        self.restore(target)
        m = target.model
        for actuator in target.handles.gripper.finger_actuators:
            m.actuator_gainprm[actuator, 0] *= sample["finger_gain_scale"]
            m.actuator_biasprm[actuator, 1] *= sample["finger_gain_scale"]
            m.actuator_forcerange[actuator] *= sample["finger_force_scale"]
        m.dof_damping[:] *= sample["damping_scale"]
        m.opt.timestep *= sample["timestep_scale"]
