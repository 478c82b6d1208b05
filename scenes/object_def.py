"""What an object of the scene is, built from its id by the library (objects.py) or a family (household.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectPart:
    """One geom of a compound object, placed in the object's body frame."""

    kind: str  # one of PRIMITIVE_KINDS or "mesh" (a convex hull of `vertices`)
    size: tuple[float, float, float]  # MuJoCo geom size (unused entries 0); meshes: bounding half-extents
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    vertices: tuple[tuple[float, float, float], ...] = ()
    mass: float = 0.0  # kg


@dataclass(frozen=True)
class ObjectDef:
    id: int
    kind: str  # one of PRIMITIVE_KINDS, "mesh" (random convex hull) or "custom" (a scene's mesh file)
    size: tuple[float, ...]  # MuJoCo geom size for primitives; bounding half-extents for meshes
    rgba: tuple[float, float, float, float]
    vertices: tuple[tuple[float, float, float], ...] = ()  # meshes only, centred on their bounding box
    faces: tuple[tuple[int, int, int], ...] = ()  # custom meshes: triangles to render (collision uses the hull)
    mass: float | None = None  # kg; None: from the density
    parts: tuple[ObjectPart, ...] = ()  # compound objects (household families): their geoms
    upright: bool = False  # dropped standing (random yaw only), not at a random orientation

    @property
    def name(self) -> str:
        return f"obj{self.id:04d}_{self.kind}"

    @property
    def half_height(self) -> float:
        """Largest half-extent: a safe clearance when dropping the object."""
        if self.kind in ("sphere",):
            return self.size[0]
        if self.kind in ("cylinder", "capsule"):
            return self.size[1] + (self.size[0] if self.kind == "capsule" else 0.0)
        return max(self.size)
