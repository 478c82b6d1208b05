"""Render the two built-in grippers side by side, open, at their start height: docs/grippers.png.

The parallel jaw of `bin_grasp` on the left, the Kinova Jaco hand of
`bin_grasp_jaco` on the right, each at its start height over the bin, seen
from beside and above (the fingers close roughly left-right in the picture) through
the scenes' own renderer.

    python examples/grippers/render_grippers.py                 # writes docs/grippers.png
    python examples/grippers/render_grippers.py --out g.png --size 256
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scenes.build import build_scene
from scenes.render import SceneRenderer
from scenes.spec import load_scene, parse_scene
from scenes.task import GraspTask
from workbench.evaluation.reports.sheet import contact_sheet
from workbench.files import write_image_atomic

SCENES = ("bin_grasp", "bin_grasp_jaco")


def side_view(scene: str, size: int) -> np.ndarray:
    """The scene's gripper, open at its start height, from a camera riding beside and above it."""
    data = load_scene(scene).model_dump(mode="json")
    data["objects"].update(count=2, ids=[0, 40])  # two library objects in the bin below, for scale
    data["camera"] = {"mount": "hand", "pos": [0.32, 0.12, 0.2], "lookat": [0.0, 0.0, 0.05], "fovy": 50.0,
                      "width": size, "height": size}
    spec = parse_scene(data, scene)
    built = build_scene(spec, tuple(spec.objects.ids))
    import mujoco

    state = mujoco.MjData(built.model)
    GraspTask(built).reset(state, np.random.default_rng(0))
    renderer = SceneRenderer(size, size)
    try:
        renderer.set_model(built.model, built.handles.camera)
        return renderer.render(state)
    finally:
        renderer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "docs" / "grippers.png")
    parser.add_argument("--size", type=int, default=192, help="side of each view, pixels")
    args = parser.parse_args()
    write_image_atomic(args.out, contact_sheet([side_view(scene, args.size) for scene in SCENES], columns=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
