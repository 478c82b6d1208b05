"""The workbench: environment, pipelines, metrics, export and the `workbench` command."""

import gymnasium as gym

ENV_ID = "workbench/Grasp-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="workbench.env:GraspEnv")


def __getattr__(name):
    # The environment pulls in MuJoCo and the randomizers: load it only when asked for.
    if name == "GraspEnv":
        from workbench.env import GraspEnv

        return GraspEnv
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = ["ENV_ID", "GraspEnv"]
