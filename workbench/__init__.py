"""The workbench: environment, pipelines, metrics, export and the `workbench` command.

Rooms, lowest first: sim, rollout, training, evaluation, deploy, bench, cli (docs/architecture.md).
"""

import gymnasium as gym

ENV_ID = "workbench/Grasp-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="workbench.sim.env:GraspEnv")

__all__ = ["ENV_ID"]
