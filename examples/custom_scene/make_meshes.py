"""Write the example's mesh files: a mug (binary STL, millimetres) and a cup (OBJ, metres).

    python examples/custom_scene/make_meshes.py

Both are surfaces of revolution (a profile turned about z), hollow inside, so
MuJoCo renders the opening while it collides with the convex hull. The output
is the same on every run; the committed files are this script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def revolve(profile: list[tuple[float, float]], segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed surface from an (r, z) profile that starts and ends on the axis (r = 0)."""
    angles = np.arange(segments) * 2 * np.pi / segments
    vertices, rings = [], []
    for r, z in profile:
        if r == 0:  # a pole: one vertex
            rings.append([len(vertices)] * segments)
            vertices.append((0.0, 0.0, z))
        else:
            rings.append(list(range(len(vertices), len(vertices) + segments)))
            vertices.extend((r * np.cos(a), r * np.sin(a), z) for a in angles)
    faces = []
    for lower, upper in zip(rings, rings[1:]):
        for j in range(segments):
            k = (j + 1) % segments
            for face in ((lower[j], upper[k], upper[j]), (lower[j], lower[k], upper[k])):
                if len(set(face)) == 3:  # next to a pole one of the pair collapses
                    faces.append(face)
    vertices, faces = np.array(vertices), np.array(faces)
    if signed_volume(vertices, faces) < 0:  # outward normals
        faces = faces[:, ::-1]
    return vertices, faces


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def handle(attach_x: float, z_centre: float, reach: float, radius: float,
           along: int = 8, around: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A tube along a half circle in the x-z plane; its open ends sit inside the mug's wall."""
    vertices, faces = [], []
    arc = np.linspace(-np.pi / 2, np.pi / 2, along + 1)
    ring = np.arange(around) * 2 * np.pi / around
    for a in arc:
        centre = np.array([attach_x + reach * np.cos(a), 0.0, z_centre + reach * np.sin(a)])
        outward = np.array([np.cos(a), 0.0, np.sin(a)])  # in the arc's plane, away from its centre
        for b in ring:
            vertices.append(centre + radius * (np.cos(b) * outward + np.sin(b) * np.array([0.0, 1.0, 0.0])))
    vertices = np.array(vertices)
    for i in range(along):
        for j in range(around):
            k = (j + 1) % around
            p, q, r, s = i * around + j, i * around + k, (i + 1) * around + j, (i + 1) * around + k
            faces += [(p, r, s), (p, s, q)]
    faces = np.array(faces)
    # Orient every triangle away from the tube's centre line.
    centres = np.array([[attach_x + reach * np.cos(a), 0.0, z_centre + reach * np.sin(a)] for a in arc])
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    nearest = centres[faces[:, 0] // around]
    flip = np.einsum("ij,ij->i", normals, a - nearest) < 0
    faces[flip] = faces[flip][:, ::-1]
    return vertices, faces


def merge(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces, offset = [], [], 0
    for v, f in parts:
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(faces)


def mug() -> tuple[np.ndarray, np.ndarray]:
    """56 mm across, 65 mm high, 3 mm wall, a handle reaching 16 mm out; in millimetres."""
    radius, height, wall, floor = 28.0, 65.0, 3.0, 5.0
    body = revolve([(0, 0), (radius, 0), (radius, height), (radius - wall, height),
                    (radius - wall, floor), (0, floor)], segments=16)
    return merge(body, handle(radius - 1.0, height / 2, 15.0, 4.0))


def cup() -> tuple[np.ndarray, np.ndarray]:
    """A tapered cup: 5 cm across at the rim, 3.6 cm at the foot, 6 cm high; in metres."""
    return revolve([(0, 0), (0.018, 0), (0.025, 0.06), (0.0225, 0.06), (0.016, 0.004), (0, 0.004)], segments=16)


def stl_bytes(vertices: np.ndarray, faces: np.ndarray, title: str) -> bytes:
    corners = vertices[faces].astype("<f4")
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
    table = np.zeros(len(faces), record)
    table["normal"], table["corners"] = normals, corners
    return title.encode("ascii").ljust(80, b" ")[:80] + np.uint32(len(faces)).tobytes() + table.tobytes()


def obj_text(vertices: np.ndarray, faces: np.ndarray, title: str) -> str:
    lines = [f"# {title}"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    return "\n".join(lines) + "\n"


def main(out: Path = HERE) -> None:
    (out / "mug.stl").write_bytes(stl_bytes(*mug(), "mug, millimetres, examples/custom_scene/make_meshes.py"))
    (out / "cup.obj").write_text(obj_text(*cup(), "cup, metres, examples/custom_scene/make_meshes.py"))
    print(f"wrote {out / 'mug.stl'} and {out / 'cup.obj'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
