"""The paper's random crop as DrQ's random shift: the image augmentation of every training batch."""

from __future__ import annotations

import numpy as np

from policies.qtopt.batches import Transitions


def random_shift(images: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """Pad by repeating the border, then crop back at a random offset per image (DrQ's shift)."""
    if pad == 0:
        return images
    size_h, size_w = images.shape[1:3]
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    offsets = rng.integers(0, 2 * pad + 1, size=(len(images), 2))
    return np.stack([padded[i, y:y + size_h, x:x + size_w] for i, (y, x) in enumerate(offsets)])


def augment(batch: Transitions, pad: int, rng: np.random.Generator) -> Transitions:
    if pad == 0:
        return batch
    return Transitions(images=random_shift(batch.images, pad, rng), states=batch.states, actions=batch.actions,
                       rewards=batch.rewards, next_images=random_shift(batch.next_images, pad, rng),
                       next_states=batch.next_states, dones=batch.dones, horizons=batch.horizons)
