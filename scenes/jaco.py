"""The Kinova Jaco three-finger hand as a gripper (`[gripper] kind = "jaco"`), from dm_control.

dm_control ships the hand's MJCF and decimated meshes (`dm_control/third_party/kinova`);
its PyMJCF entity `JacoHand` loads them. We take the entity's model (XML and mesh
assets), drop its velocity actuators and attach it through `MjSpec` under the scene's
free `hand` body, fingers pointing down, thumb along the hand's +y, so the task drives it
like the parallel jaw: the mocap target moves the hand, close and open set the three
fingers' position targets.

What we change on the hand, and why (the oracle's success on 200 scenes of
`bin_grasp_jaco`, 60 + 60 + 80 seeds, is what chose among the alternatives):
- position actuators instead of velocity ones: the QT-Opt action commands "closed" or
  "open"; a position target past where the fingers meet, with a torque limit, closes a
  finger until it squeezes the object with that torque (0.7 N m; 0.5, 1.0 and 2.0 did
  no better, 2.0 clearly worse);
- lighter finger armature and damping than dm_control's (0.1 kg m^2, 0.75 N m s), which
  take about a second to close, like the real hand: an action lasts 0.1 s and scripted
  grasps close for one or two actions before the lift (heavier fingers, still closing
  when the lift starts, dropped most grasps);
- "open" is 0.5 rad, not the joints' lower limit 0.15 rad: wide open, the fingertips
  span 20 cm and land on neighbouring objects and the bin walls (166 of 200 against
  173 of 200 half open);
- the scene's `gripper` material on every geom, so the texture randomizer reaches the
  hand, and the spec's `finger_friction` on the fingers (`bin_grasp_jaco` sets 4: the
  fingertips pinch low objects, and with 2 they lost a third more of them);
- gravity compensation on every body, as for the parallel jaw.

The tool point (the hand frame's origin, whose height the policy observes) is on the
hand's axis at the lowest point the fingertips reach while closing: a hand at height
zero can close without the fingers hitting the floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from scenes.gripper_types import GraspGeometry, GripperParts

if TYPE_CHECKING:  # annotations only: the spec imports the grippers, which import this module
    from scenes.spec import GripperSpec

PREFIX = "jaco_"  # the attached hand's element names: jaco_hand, jaco_finger_1, jaco_finger_tip_1, ...
FINGERS = ("1", "2", "3")  # finger 1 is the thumb, opposite fingers 2 and 3 across the hand's y axis
FINGER_TORQUE = 0.7  # N m, each finger's actuator limit
FINGER_GAIN = 20.0  # N m / rad, position stiffness: the limit is reached 0.035 rad from the target
FINGER_ARMATURE = 0.001  # kg m^2
FINGER_DAMPING = 0.05  # N m s / rad
OPEN_ANGLE = 0.5  # rad, the fingers' open position (their joints' range starts at 0.15)
# The oracle puts the tool point this far below the object's centre before closing, m
# (0.015 and 0.005 grasp alike; above the centre, -0.01, fails more often).
GRASP_DEPTH = 0.005


@dataclass(frozen=True)
class JacoGeometry:
    """Measured once on dm_control's model; everything the scene needs to mount the hand."""

    tool_depth: float  # the tool point below the Jaco hand frame's origin (its wrist flange), m
    opening: float  # gap between the open thumb's and fingers' distal links across the hand's y axis, m
    finger_range: tuple[float, float]  # rad: open (OPEN_ANGLE) .. closed (the joints' upper limit)
    finger_length: float  # knuckle to the farthest fingertip point, m
    reach: float  # farthest point of the open fingertips from the hand's axis, m


@lru_cache(maxsize=1)
def _hand_model() -> tuple[str, dict[str, bytes]]:
    """dm_control's Jaco hand as MJCF text and its mesh files, without its velocity actuators."""
    from dm_control.entities.manipulators.kinova import jaco_hand

    hand = jaco_hand.JacoHand()
    for actuator in hand.actuators:
        actuator.remove()
    return hand.mjcf_model.to_xml_string(), hand.mjcf_model.get_assets()


def _hand_spec() -> mujoco.MjSpec:
    """The hand alone, its frame turned so the fingers point down (-z) and the thumb to +y."""
    xml, assets = _hand_model()
    spec = mujoco.MjSpec.from_string(xml, assets=assets)
    spec.body("hand").quat = [1.0, 0.0, 0.0, 0.0]
    for joint in spec.joints:
        joint.armature = FINGER_ARMATURE
        joint.damping = [FINGER_DAMPING, 0.0, 0.0]  # MuJoCo 4: linear term first
    return spec


@lru_cache(maxsize=1)
def jaco_geometry() -> JacoGeometry:
    """Sweep the fingers from open to closed on the hand alone and measure it."""
    spec = _hand_spec()
    spec.option.gravity = [0.0, 0.0, 0.0]
    model = spec.compile()
    data = mujoco.MjData(model)
    joints = [model.joint(f"finger_{f}").id for f in FINGERS]
    limit, high = (float(v) for v in model.jnt_range[joints[0]])
    low = max(limit, OPEN_ANGLE)
    tips = {f: model.geom(f"finger_tip_{f}").id for f in FINGERS}
    knuckles = {f: model.geom(f"finger_knuckle_{f}").id for f in FINGERS}

    def vertices(geom: int) -> np.ndarray:
        mesh = model.geom_dataid[geom]
        start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        return data.geom_xpos[geom] + model.mesh_vert[start:start + count] @ data.geom_xmat[geom].reshape(3, 3).T

    def pose(angle: float) -> None:
        data.qpos[[model.jnt_qposadr[j] for j in joints]] = angle
        mujoco.mj_kinematics(model, data)

    pose(low)  # open
    thumb = vertices(tips["1"])
    opening = float(thumb[:, 1].min() - max(vertices(tips[f])[:, 1].max() for f in FINGERS[1:]))
    length = float(np.linalg.norm(thumb - data.xpos[model.geom_bodyid[knuckles["1"]]], axis=1).max())
    reach = max(float(np.linalg.norm(vertices(g)[:, :2], axis=1).max()) for g in tips.values())
    lowest = np.inf
    for angle in np.linspace(low, high, 49):  # closing: the fingertips sweep down, then up as they meet
        pose(angle)
        lowest = min(lowest, min(vertices(g)[:, 2].min() for g in tips.values()))
    return JacoGeometry(tool_depth=float(-lowest), opening=opening, finger_range=(low, high),
                        finger_length=length, reach=reach)


def jaco_parts() -> GripperParts:
    geometry = jaco_geometry()
    low, high = geometry.finger_range
    return GripperParts(
        finger_joints=tuple(f"{PREFIX}finger_{f}" for f in FINGERS),
        finger_actuators=tuple(f"{PREFIX}finger_{f}_act" for f in FINGERS),
        finger_geoms=tuple(f"{PREFIX}finger_{part}_{f}" for f in FINGERS for part in ("knuckle", "tip")),
        finger_open=low, finger_travel=high - low, finger_length=geometry.finger_length,
    )


def jaco_grasp_geometry() -> GraspGeometry:
    return GraspGeometry(depth=GRASP_DEPTH, wall_clearance=jaco_geometry().reach)


def add_jaco_hand(s: mujoco.MjSpec, hand: mujoco.MjsBody, gripper: GripperSpec) -> None:
    """Attach the Jaco hand under the scene's free `hand` body, its tool point at the body's origin."""
    geometry = jaco_geometry()
    child = _hand_spec()
    for body in child.bodies:
        body.gravcomp = 1.0
    for geom in child.geoms:
        geom.material = ""  # set below, once attached, to the scene's material
    frame = hand.add_frame(pos=[0.0, 0.0, geometry.tool_depth])
    frame.attach_body(child.body("hand"), PREFIX, "")
    s.assets = {**s.assets, **_hand_model()[1]}  # the mesh files, which the attached meshes name
    attached = s.body(f"{PREFIX}hand")
    fingers = set(jaco_parts().finger_geoms)
    for geom in attached.find_all(mujoco.mjtObj.mjOBJ_GEOM):
        geom.material = "gripper"
        if geom.name in fingers:
            geom.friction = [gripper.finger_friction, 0.02, 0.0001]
    low, high = geometry.finger_range
    for f in FINGERS:
        actuator = s.add_actuator(name=f"{PREFIX}finger_{f}_act", target=f"{PREFIX}finger_{f}",
                                  trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_position(kp=FINGER_GAIN)
        actuator.ctrlrange = [low, high]
        actuator.forcerange = [-FINGER_TORQUE, FINGER_TORQUE]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
