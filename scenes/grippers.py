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

from typing import TYPE_CHECKING

from scenes.gripper_types import GraspGeometry, GripperParts
from scenes.jaco import jaco_geometry, jaco_grasp_geometry, jaco_parts  # dm_control loads on first use

if TYPE_CHECKING:  # the spec validates with these functions: it is imported above them, not below
    from scenes.spec import GripperSpec


def gripper_parts(gripper: GripperSpec) -> GripperParts:
    if gripper.kind == "jaco":
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
        return jaco_geometry().opening
    return gripper.max_opening


def grasp_geometry(gripper: GripperSpec) -> GraspGeometry:
    if gripper.kind == "jaco":
        return jaco_grasp_geometry()
    # The parallel jaw's fingertips stay level as they close: they go just past the centre.
    return GraspGeometry(depth=0.005, wall_clearance=0.045)
