"""Robot drivers: the LeRobot-style interface (base) and the MuJoCo simulator driver (sim)."""

from workbench.deploy.drivers.base import (
                                           Command,
                                           DeviceAlreadyConnectedError,
                                           DeviceNotConnectedError,
                                           FeatureSpec,
                                           Robot,
                                           as_command,
                                           grasp_observation_features,
)

__all__ = ["Command", "DeviceAlreadyConnectedError", "DeviceNotConnectedError", "FeatureSpec", "Robot",
           "as_command", "grasp_observation_features"]
