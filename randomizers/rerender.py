"""Re-render a recorded episode under the same or a new visual randomization, without simulating.

An episode is its physics states (info["physics_state"] at reset and after
each step, in `workbench.sim.env.STATE_SPEC`), its object ids and its
randomization records (info["randomization"] at reset and at each step).
Rebuilding the scene (scaled as recorded) and replaying the visual samples
frame by frame gives the episode's frames again, pixel for pixel; drawing new
visual samples instead gives the same trajectory in a new look, so a study
that tunes only visual ranges can reuse its trajectories.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from randomizers.config import Profile
from randomizers.episode import VISUAL, Randomization
from scenes.render import SceneRenderer
from scenes.spec import SceneSpec

STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION  # as workbench.sim.env records it


def recorded_scales(records: list[dict]) -> tuple[float, ...] | None:
    """The object scales an episode was built with (None: unscaled), from its reset record."""
    scales = records[0].get("object", {}).get("scales") if records else None
    return None if scales is None else tuple(scales)


class EpisodeRerenderer:
    """One episode's scene, rebuilt with its own renderer, ready to render recorded states."""

    def __init__(self, scene: SceneSpec, object_ids, scales: tuple[float, ...] | None = None,
                 profile: str | Path | Profile | None = None):
        self.randomization = Randomization(profile, cache_size=1)
        self.scene = self.randomization.build_scene(scene, tuple(object_ids), scales)
        self.renderer = SceneRenderer(scene.camera.width, scene.camera.height)
        self.renderer.set_model(self.scene.model, self.scene.handles.camera)
        self.data = mujoco.MjData(self.scene.model)

    def draw_records(self, rng: np.random.Generator, frames: int) -> list[dict]:
        """New visual samples for `frames` frames: all visual randomizers first, then the per-step ones."""
        randomization = self.randomization
        step_visual = [name for name in randomization.step_names if name in VISUAL]
        first = randomization.draw(rng, self.scene, VISUAL)
        return [first] + [randomization.draw(rng, self.scene, step_visual) if step_visual else {}
                          for _ in range(frames - 1)]

    def render(self, states, records: list[dict]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(observed frames, clean frames) of the states under the records' visual samples."""
        if len(states) != len(records):
            raise ValueError(f"{len(states)} states but {len(records)} randomization records")
        model, data = self.scene.model, self.data
        images, clean_images = [], []
        for state, record in zip(states, records):
            visual = {name: sample for name, sample in record.items() if name in VISUAL}
            self.randomization.apply(visual, self.scene, None, self.renderer)
            mujoco.mj_setState(model, data, np.asarray(state, float), STATE_SPEC)
            mujoco.mj_forward(model, data)
            clean = self.renderer.render(data)
            clean_images.append(clean)
            images.append(self.randomization.augment(clean))
        return images, clean_images

    def close(self) -> None:
        self.renderer.close()


def rerender_episode(scene: SceneSpec, object_ids, states, records: list[dict],
                     profile: str | Path | Profile | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """An episode's (observed, clean) frames from its states and records, under the profile it ran with."""
    rerenderer = EpisodeRerenderer(scene, object_ids, recorded_scales(records), profile)
    try:
        return rerenderer.render(states, records)
    finally:
        rerenderer.close()
