"""Triangle meshes from files: STL (binary or ASCII) and Wavefront OBJ.

A scene's custom objects (`[[objects.meshes]]`) come from such files. The
reader returns shared vertices and triangles; `scenes.build` hands both to
`MjSpec` as a mesh asset, which renders the triangles and collides with their
convex hull. Only numpy is needed; a file that cannot be read raises
`MeshError` with the reason (the spec puts the file and field in front).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from policies.runtime.input_files import InputFileError, regular_file

MAX_MESH_BYTES = 256 * 1024 * 1024

MESH_SUFFIXES = (".stl", ".obj")


class MeshError(ValueError):
    """A mesh file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Mesh:
    vertices: np.ndarray  # (N, 3) float64, in the file's units
    faces: np.ndarray  # (M, 3) int32, indices into vertices

    @property
    def extents(self) -> np.ndarray:
        return self.vertices.max(axis=0) - self.vertices.min(axis=0)


def read_mesh(path: str | Path) -> Mesh:
    """Read an .stl or .obj file; cached by path and modification time."""
    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise MeshError(f"unsupported mesh format {path.suffix or '(none)'!r}: use .stl or .obj")
    try:
        regular_file(path, MAX_MESH_BYTES)  # a directory or a FIFO named .stl is refused, not read (or waited on)
    except InputFileError as error:
        raise MeshError(f"{error.problem}: {path}") from None
    return _read_cached(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _read_cached(path: str, stamp: int) -> Mesh:
    data = Path(path).read_bytes()
    vertices, faces = _read_stl(data) if path.lower().endswith(".stl") else _read_obj(data)
    if len(faces) == 0:
        raise MeshError("no triangles")
    if not np.isfinite(vertices).all():
        raise MeshError("vertex coordinates must be finite")
    mesh = Mesh(vertices, faces)
    if (mesh.extents <= 0).any():
        raise MeshError(f"flat mesh (extents {_format(mesh.extents)}): MuJoCo needs a 3D convex hull")
    return mesh


def _format(values) -> str:
    return " x ".join(f"{v:.4g}" for v in values)


def _read_stl(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    if len(data) >= 84:
        count = int(np.frombuffer(data, "<u4", count=1, offset=80)[0])
        if len(data) == 84 + 50 * count:  # binary: header, count, 50 bytes per triangle
            record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
            corners = np.frombuffer(data, record, count=count, offset=84)["corners"]
            return _share_vertices(corners.astype(np.float64))
    if not data.lstrip().lower().startswith(b"solid"):
        raise MeshError("not an STL file (neither binary nor ASCII 'solid ...')")
    points = []
    for number, line in enumerate(data.decode("ascii", errors="replace").splitlines(), 1):
        words = line.split()
        if words and words[0] == "vertex":
            try:
                points.append([float(w) for w in words[1:4]])
            except ValueError:
                raise MeshError(f"line {number}: bad vertex {line.strip()!r}") from None
    if len(points) % 3:
        raise MeshError(f"{len(points)} vertices is not a whole number of triangles")
    return _share_vertices(np.array(points, np.float64).reshape(-1, 3, 3))


def _share_vertices(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """STL repeats each corner per triangle; merge equal corners."""
    vertices, inverse = np.unique(corners.reshape(-1, 3), axis=0, return_inverse=True)
    return vertices, inverse.reshape(-1, 3).astype(np.int32)


def _read_obj(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = [], []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        words = line.split()
        try:
            if words and words[0] == "v":
                vertices.append([float(w) for w in words[1:4]])
            elif words and words[0] == "f":
                # `f 1 2 3`, `f 1/1 2/2 3/3` or `f 1//1 ...`; 1-based, negative counts from the end.
                corners = [int(w.split("/")[0]) for w in words[1:]]
                corners = [c - 1 if c > 0 else len(vertices) + c for c in corners]
                if len(corners) < 3 or not all(0 <= c < len(vertices) for c in corners):
                    raise ValueError
                faces.extend([corners[0], corners[i], corners[i + 1]] for i in range(1, len(corners) - 1))
        except (ValueError, IndexError):
            raise MeshError(f"line {number}: cannot read {line.strip()!r}") from None
    if any(len(v) != 3 for v in vertices):
        raise MeshError("a vertex line has fewer than 3 coordinates")
    return np.array(vertices, np.float64).reshape(-1, 3), np.array(faces, np.int32).reshape(-1, 3)
