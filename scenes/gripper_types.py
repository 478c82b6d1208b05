"""What each gripper model provides, as plain records (scenes.grippers fills them per model)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GripperParts:
    """The named parts `scenes.build` collects handles from, and the fingers' travel."""

    finger_joints: tuple[str, ...]
    finger_actuators: tuple[str, ...]  # position actuators, one per finger joint
    finger_geoms: tuple[str, ...]  # an object touching any of them touches a finger (the grasp check)
    finger_open: float  # joint position, and actuator target, of an open finger
    finger_travel: float  # closed minus open, in the joint's units (m or rad)
    finger_length: float  # m, from the palm to the fingertip


@dataclass(frozen=True)
class GraspGeometry:
    """Where the scripted oracle puts the hand for a grasp."""

    depth: float  # the tool point this far below the object's centre when the fingers close, m
    wall_clearance: float  # an object this far from the bin walls leaves the open fingers room, m
