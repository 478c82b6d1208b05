"""The workbench: environment, pipelines, metrics, export and the `workbench` command."""

import gymnasium as gym

from workbench.env import ENV_ID, GraspEnv

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="workbench.env:GraspEnv")

__all__ = ["ENV_ID", "GraspEnv"]
