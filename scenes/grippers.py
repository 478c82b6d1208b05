"""What the builder, the task, the validator and the oracle know of each gripper model.

`[gripper] kind` picks the model: `parallel_jaw`, built from the spec's fields by
`scenes.build`, or `jaco`, the Kinova Jaco hand from dm_control's assets
(`scenes.jaco`). Both hang under the same free `hand` body, welded to the mocap
target, with the hand's origin at the tool point; what differs is described
here: the names of their finger joints, actuators and geoms (the handles), the
fingers' travel, the opening and how deep an object sits in the hand when it
closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenes.spec import GripperSpec


@dataclass(frozen=True)
class GripperParts:
    """The named parts `scenes.build` collects handles from, and the fingers' travel."""

    finger_joints: tuple[str, ...]
    finger_actuators: tuple[str, ...]  # position actuators, one per finger joint
    finger_geoms: tuple[str, ...]  # an object touching any of them touches a finger (the grasp check)
    finger_open: float  # joint position, and actuator target, of an open finger
    finger_travel: float  # closed minus open, in the joint's units (m or rad)
    finger_length: float  # m, from the palm to the fingertip


def gripper_parts(gripper: GripperSpec) -> GripperParts:
    if gripper.kind == "jaco":
        from scenes.jaco import jaco_parts  # late: it imports dm_control

        return jaco_parts()
    sides = ("left", "right")
    return GripperParts(
        finger_joints=tuple(f"finger_{side}_joint" for side in sides),
        finger_actuators=tuple(f"finger_{side}_act" for side in sides),
        finger_geoms=tuple(f"finger_{side}_geom" for side in sides),
        finger_open=0.0, finger_travel=gripper.max_opening / 2, finger_length=gripper.finger_length,
    )


def gripper_opening(gripper: GripperSpec) -> float:
    """The widest object the open fingers close around, m: the gap between their inner faces."""
    if gripper.kind == "jaco":
        from scenes.jaco import jaco_geometry

        return jaco_geometry().opening
    return gripper.max_opening


@dataclass(frozen=True)
class GraspGeometry:
    """Where the scripted oracle puts the hand for a grasp."""

    depth: float  # the tool point this far below the object's centre when the fingers close, m
    wall_clearance: float  # an object this far from the bin walls leaves the open fingers room, m


def grasp_geometry(gripper: GripperSpec) -> GraspGeometry:
    if gripper.kind == "jaco":
        from scenes.jaco import jaco_grasp_geometry

        return jaco_grasp_geometry()
    # The parallel jaw's fingertips stay level as they close: they go just past the centre.
    return GraspGeometry(depth=0.005, wall_clearance=0.045)
