"""Build a scene spec into an `MjModel` with named handles, through `MjSpec`.

Everything is made by code: no XML strings. The result, a `Scene`, holds the
compiled model and `SceneHandles`, the ids that randomizers and the
environment use instead of magic indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from scenes.grippers import gripper_parts
from scenes.objects import ObjectDef, scene_object
from scenes.spec import GripperSpec, SceneSpec

SURFACE_GROUPS = ("floor", "table", "bin", "gripper")
_BIN_FLOOR_THICKNESS = 0.01
_GEOM_TYPES = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
    "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
    "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID,
    "mesh": mujoco.mjtGeom.mjGEOM_MESH,
    "custom": mujoco.mjtGeom.mjGEOM_MESH,
}


@dataclass(frozen=True)
class ObjectHandle:
    library_id: int
    name: str
    body: int
    geom: int
    qpos_adr: int  # start of the free joint's 7 qpos entries
    qvel_adr: int
    material: int
    half_height: float
    geoms: tuple[int, ...] = ()  # every geom of the body: one, or a compound object's parts
    extents: tuple[float, float, float] = (0.0, 0.0, 0.0)  # half-extents of a box round the body's origin
    upright: bool = False  # dropped standing (household objects)
    compound: bool = False  # several geoms (household objects): drops stack boxes, the oracle picks a part


@dataclass(frozen=True)
class GripperHandles:
    mocap: int  # index into data.mocap_pos / mocap_quat
    hand: int  # body id
    finger_qpos: tuple[int, ...]  # one per finger joint: two for the parallel jaw, three for the Jaco
    finger_dofs: tuple[int, ...]
    finger_actuators: tuple[int, ...]
    finger_geoms: tuple[int, ...]  # every geom of every finger
    finger_travel: float  # joint range: open .. open + travel closed
    finger_length: float
    finger_open: float = 0.0  # joint position (and actuator target) of an open finger


@dataclass(frozen=True)
class SceneHandles:
    objects: tuple[ObjectHandle, ...]
    gripper: GripperHandles
    camera: int
    lights: dict[str, int]
    materials: dict[str, int]  # surface group or object name -> material id
    textures: dict[str, int]  # same keys as materials
    surface_geoms: dict[str, tuple[int, ...]]  # surface group -> geom ids
    bin_floor_z: float
    bin_half_size: tuple[float, float]
    pool_textures: tuple[int, ...] = ()  # spare textures `pool_00`.. for the texture randomizer


@dataclass
class Scene:
    spec: SceneSpec
    object_ids: tuple[int, ...]
    model: mujoco.MjModel
    handles: SceneHandles


def build_scene(spec: SceneSpec, object_ids: tuple[int, ...]) -> Scene:
    """Compile `spec` holding the given library objects."""
    mj_spec = _make_spec(spec, [scene_object(i, spec.objects.meshes) for i in object_ids])
    model = mj_spec.compile()
    return Scene(spec, tuple(object_ids), model, _collect_handles(spec, model, object_ids))


def camera_quat(pos, lookat) -> np.ndarray:
    """Quaternion of a camera at `pos` looking at `lookat`, image up towards +z."""
    backward = np.asarray(pos, float) - np.asarray(lookat, float)
    backward /= np.linalg.norm(backward)
    right = np.cross([0.0, 0.0, 1.0], backward)
    if np.linalg.norm(right) < 1e-6:  # looking straight down: pick +x as right
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(backward, right)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([right, up, backward]).ravel())
    return quat


def _make_spec(spec: SceneSpec, objects: list[ObjectDef]) -> mujoco.MjSpec:
    s = mujoco.MjSpec()
    s.modelname = spec.name
    s.option.timestep = spec.physics.timestep
    s.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    s.option.impratio = spec.physics.impratio
    s.option.noslip_iterations = spec.physics.noslip_iterations
    s.visual.quality.shadowsize = spec.render.shadow_size
    s.visual.quality.offsamples = 0
    s.visual.quality.numslices, s.visual.quality.numstacks = 12, 8  # triangles cost in software GL
    s.visual.global_.offwidth = spec.camera.width
    s.visual.global_.offheight = spec.camera.height
    s.visual.headlight.ambient = [0.1] * 3
    s.visual.headlight.diffuse = [spec.render.headlight] * 3
    s.visual.headlight.specular = [0.0] * 3

    for group in SURFACE_GROUPS:
        rgb = {"floor": (0.35, 0.35, 0.38), "table": (0.55, 0.42, 0.3),
               "bin": (0.6, 0.62, 0.65), "gripper": spec.gripper.rgba[:3]}[group]
        _add_material(s, group, rgb, spec.render.texture_size, checker=group == "floor")
    for obj in objects:
        _add_material(s, obj.name, obj.rgba[:3], spec.render.texture_size, checker=False)
    for index in range(spec.render.texture_pool):  # no material uses them until a randomizer says so
        s.add_texture(name=pool_texture_name(index), type=mujoco.mjtTexture.mjTEXTURE_2D,
                      builtin=mujoco.mjtBuiltin.mjBUILTIN_FLAT, width=spec.render.texture_size,
                      height=spec.render.texture_size, rgb1=[1, 1, 1], rgb2=[1, 1, 1])

    world = s.worldbody
    table_top = spec.table.height
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1],
                   pos=[0, 0, table_top - 0.75], material="floor")
    hx, hy = spec.table.half_size
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX,
                   size=[hx, hy, spec.table.thickness / 2],
                   pos=[0, 0, table_top - spec.table.thickness / 2], material="table")
    _add_bin(s, spec, table_top)

    floor_z = table_top + _BIN_FLOOR_THICKNESS
    for index, obj in enumerate(objects):
        body = world.add_body(name=obj.name, pos=[0.05 * index, 0, floor_z + 0.2 + 0.08 * index])
        body.add_freejoint(name=f"{obj.name}_joint")
        if obj.parts:
            _add_parts(s, body, obj, spec)
            continue
        geom = body.add_geom(name=f"{obj.name}_geom", type=_GEOM_TYPES[obj.kind], material=obj.name,
                             density=spec.objects.density, condim=4,
                             friction=[spec.objects.friction, 0.02, 0.0001])
        if obj.kind in ("mesh", "custom"):
            mesh = s.add_mesh(name=f"{obj.name}_mesh")
            mesh.uservert = np.asarray(obj.vertices, float).ravel().tolist()
            if obj.faces:  # a mesh file: render its triangles; mass and collision from their convex hull
                mesh.userface = np.asarray(obj.faces, np.int32).ravel().tolist()
                mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_CONVEX
            geom.meshname = mesh.name
        else:
            geom.size = list(obj.size) + [0.0] * (3 - len(obj.size))
        if obj.mass is not None:
            geom.mass = obj.mass

    _add_gripper(s, spec, floor_z)

    mount = world if spec.camera.mount == "world" else s.body("hand")
    mount.add_camera(name="camera", pos=list(spec.camera.pos),
                     quat=camera_quat(spec.camera.pos, spec.camera.lookat).tolist(),
                     fovy=spec.camera.fovy)
    for light in spec.lights:
        world.add_light(name=light.name, pos=list(light.pos), dir=list(light.dir),
                        diffuse=list(light.diffuse), ambient=list(light.ambient),
                        specular=list(light.specular), castshadow=light.castshadow,
                        active=light.active)
    return s


def _add_parts(s: mujoco.MjSpec, body, obj: ObjectDef, spec: SceneSpec) -> None:
    """A compound object's geoms; the first is named like a single object's geom."""
    for index, part in enumerate(obj.parts):
        name = f"{obj.name}_geom" if index == 0 else f"{obj.name}_geom{index}"
        geom = body.add_geom(name=name, type=_GEOM_TYPES[part.kind], material=obj.name, pos=list(part.pos),
                             quat=list(part.quat), mass=part.mass, condim=4,
                             friction=[spec.objects.friction, 0.02, 0.0001])
        if part.kind == "mesh":
            mesh = s.add_mesh(name=f"{name}_mesh")
            mesh.uservert = np.asarray(part.vertices, float).ravel().tolist()
            geom.meshname = mesh.name
        else:
            geom.size = list(part.size)


def _body_extents(model: mujoco.MjModel, geoms: tuple[int, ...]) -> tuple[float, float, float]:
    """Half-extents of the smallest box centred on the body's origin that holds its geoms' boxes."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    reach = np.zeros(3)
    for g in geoms:
        rotation = np.zeros(9)
        mujoco.mju_quat2Mat(rotation, model.geom_quat[g])
        corners = (model.geom_aabb[g][:3] + signs * model.geom_aabb[g][3:]) @ rotation.reshape(3, 3).T
        reach = np.maximum(reach, np.abs(corners + model.geom_pos[g]).max(axis=0))
    return tuple(float(v) for v in reach)


def pool_texture_name(index: int) -> str:
    return f"pool_{index:02d}"


def _add_material(s: mujoco.MjSpec, name: str, rgb, size: int, checker: bool) -> None:
    # Every surface owns its texture so the texture randomizer can rewrite it in place.
    base = np.asarray(rgb, float)
    s.add_texture(
        name=name, type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER if checker else mujoco.mjtBuiltin.mjBUILTIN_FLAT,
        width=size, height=size, rgb1=base.tolist(), rgb2=(base * 0.8).tolist(),
    )
    material = s.add_material(name=name, rgba=[1, 1, 1, 1], specular=0.2, shininess=0.3)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = name
    if checker:
        material.texrepeat = [8, 8]


def _add_bin(s: mujoco.MjSpec, spec: SceneSpec, table_top: float) -> None:
    bx, by = (v / 2 for v in spec.bin.inner_size)
    t, h = spec.bin.wall_thickness, spec.bin.wall_height
    bin_body = s.worldbody.add_body(name="bin", pos=[0, 0, table_top])
    # The floor slab reaches 4 cm into the table: thick collision geoms stop tunnelling.
    bin_body.add_geom(name="bin_floor", type=mujoco.mjtGeom.mjGEOM_BOX, material="bin",
                      size=[bx + t, by + t, _BIN_FLOOR_THICKNESS / 2 + 0.02],
                      pos=[0, 0, _BIN_FLOOR_THICKNESS / 2 - 0.02])
    if h <= 0:
        return
    wall_z = _BIN_FLOOR_THICKNESS + h / 2
    walls = {
        "bin_wall_px": ([bx + t / 2, 0, wall_z], [t / 2, by + t, h / 2]),
        "bin_wall_nx": ([-bx - t / 2, 0, wall_z], [t / 2, by + t, h / 2]),
        "bin_wall_py": ([0, by + t / 2, wall_z], [bx, t / 2, h / 2]),
        "bin_wall_ny": ([0, -by - t / 2, wall_z], [bx, t / 2, h / 2]),
    }
    for name, (pos, size) in walls.items():
        bin_body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, pos=pos, size=size, material="bin")


def _add_gripper(s: mujoco.MjSpec, spec: SceneSpec, floor_z: float) -> None:
    """A mocap target welded to a free hand that carries the gripper model's fingers.

    The hand frame's origin is the tool point between the fingertips, so its z
    minus the bin floor is the gripper height the policy observes.
    """
    g = spec.gripper
    start = [0.0, 0.0, floor_z + g.start_height]
    s.worldbody.add_body(name="gripper_mocap", mocap=True, pos=start)
    hand = s.worldbody.add_body(name="hand", pos=start, gravcomp=1.0)
    hand.add_freejoint(name="hand_joint")
    if g.kind == "jaco":
        from scenes.jaco import add_jaco_hand  # late: it imports dm_control

        add_jaco_hand(s, hand, g)
    else:
        _add_parallel_jaw(s, hand, g)
    s.add_equality(name="gripper_weld", type=mujoco.mjtEq.mjEQ_WELD, objtype=mujoco.mjtObj.mjOBJ_BODY,
                   name1="gripper_mocap", name2="hand", solref=[0.02, 1.0],
                   # anchor, relative pose (identity: the hand sits on its target), torque scale
                   data=[0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0])


def _add_parallel_jaw(s: mujoco.MjSpec, hand: mujoco.MjsBody, g: GripperSpec) -> None:
    """A palm, a wrist and two box fingers on position-controlled slide joints, from the spec's fields."""
    length = g.finger_length
    half_open = g.max_opening / 2
    pad = g.finger_thickness / 2
    palm = g.palm_height / 2
    hand.add_geom(name="palm", type=mujoco.mjtGeom.mjGEOM_BOX, material="gripper",
                  size=[g.palm_depth / 2, half_open + 2 * pad, palm], pos=[0, 0, length + palm], mass=0.3)
    hand.add_geom(name="wrist", type=mujoco.mjtGeom.mjGEOM_CYLINDER, material="gripper",
                  size=[0.018, 0.05, 0], pos=[0, 0, length + 2 * palm + 0.05], mass=0.2)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        finger = hand.add_body(name=f"finger_{side}", pos=[0, sign * (half_open + pad), length / 2],
                               gravcomp=1.0)
        finger.add_joint(name=f"finger_{side}_joint", type=mujoco.mjtJoint.mjJNT_SLIDE,
                         axis=[0, -sign, 0], range=[0, half_open], damping=10.0, armature=0.01)
        finger.add_geom(name=f"finger_{side}_geom", type=mujoco.mjtGeom.mjGEOM_BOX, material="gripper",
                        size=[g.finger_width / 2, pad, length / 2], mass=0.05, condim=4,
                        friction=[g.finger_friction, 0.02, 0.0001])
        actuator = s.add_actuator(name=f"finger_{side}_act", target=f"finger_{side}_joint",
                                  trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_position(kp=g.finger_gain)
        actuator.ctrlrange = [0, half_open]
        actuator.forcerange = [-g.finger_force, g.finger_force]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _collect_handles(spec: SceneSpec, model: mujoco.MjModel, object_ids) -> SceneHandles:
    def id_of(kind, name):
        index = mujoco.mj_name2id(model, kind, name)
        if index < 0:
            raise KeyError(f"scene {spec.name!r} has no {kind.name} named {name!r}")
        return index

    obj = mujoco.mjtObj
    objects = []
    for library_id in object_ids:
        definition = scene_object(library_id, spec.objects.meshes)
        joint = id_of(obj.mjOBJ_JOINT, f"{definition.name}_joint")
        body = id_of(obj.mjOBJ_BODY, definition.name)
        geoms = tuple(int(g) for g in np.flatnonzero(model.geom_bodyid == body))
        objects.append(ObjectHandle(
            library_id=library_id, name=definition.name, body=body,
            geom=id_of(obj.mjOBJ_GEOM, f"{definition.name}_geom"), qpos_adr=int(model.jnt_qposadr[joint]),
            qvel_adr=int(model.jnt_dofadr[joint]), material=id_of(obj.mjOBJ_MATERIAL, definition.name),
            half_height=definition.half_height, geoms=geoms, extents=_body_extents(model, geoms),
            upright=definition.upright, compound=bool(definition.parts),
        ))
    parts = gripper_parts(spec.gripper)
    fingers = [id_of(obj.mjOBJ_JOINT, name) for name in parts.finger_joints]
    hand = id_of(obj.mjOBJ_BODY, "hand")
    gripper = GripperHandles(
        mocap=int(model.body_mocapid[id_of(obj.mjOBJ_BODY, "gripper_mocap")]), hand=hand,
        finger_qpos=tuple(int(model.jnt_qposadr[j]) for j in fingers),
        finger_dofs=tuple(int(model.jnt_dofadr[j]) for j in fingers),
        finger_actuators=tuple(id_of(obj.mjOBJ_ACTUATOR, name) for name in parts.finger_actuators),
        finger_geoms=tuple(id_of(obj.mjOBJ_GEOM, name) for name in parts.finger_geoms),
        finger_travel=parts.finger_travel, finger_length=parts.finger_length, finger_open=parts.finger_open,
    )
    names = list(SURFACE_GROUPS) + [o.name for o in objects]
    gripper_geoms = tuple(g for g in range(model.ngeom) if _in_subtree(model, model.geom_bodyid[g], hand))
    bin_geoms = tuple(g for g in range(model.ngeom)
                      if model.geom_bodyid[g] == id_of(obj.mjOBJ_BODY, "bin"))
    return SceneHandles(
        objects=tuple(objects), gripper=gripper, camera=id_of(obj.mjOBJ_CAMERA, "camera"),
        lights={light.name: id_of(obj.mjOBJ_LIGHT, light.name) for light in spec.lights},
        materials={n: id_of(obj.mjOBJ_MATERIAL, n) for n in names},
        textures={n: id_of(obj.mjOBJ_TEXTURE, n) for n in names},
        surface_geoms={"floor": (id_of(obj.mjOBJ_GEOM, "floor"),), "table": (id_of(obj.mjOBJ_GEOM, "table"),),
                       "bin": bin_geoms, "gripper": gripper_geoms},
        bin_floor_z=spec.table.height + _BIN_FLOOR_THICKNESS,
        bin_half_size=(spec.bin.inner_size[0] / 2, spec.bin.inner_size[1] / 2),
        pool_textures=tuple(id_of(obj.mjOBJ_TEXTURE, pool_texture_name(i)) for i in range(spec.render.texture_pool)),
    )


def _in_subtree(model: mujoco.MjModel, body: int, root: int) -> bool:
    """Whether `body` is `root` or hangs below it (the Jaco's fingertips are the hand's grandchildren)."""
    while body > 0:
        if body == root:
            return True
        body = int(model.body_parentid[body])
    return False
