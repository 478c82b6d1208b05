"""Contact sheets: many images tiled into one, for previews and reports."""

from __future__ import annotations

import math

import numpy as np


def contact_sheet(images: list[np.ndarray], columns: int | None = None, gap: int = 2) -> np.ndarray:
    """Tile equal-sized (H, W, 3) uint8 images in a near-square grid with a white gap."""
    if not images:
        raise ValueError("no images to tile")
    height, width, _ = images[0].shape
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    sheet = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 255, np.uint8)
    for index, image in enumerate(images):
        row, col = divmod(index, columns)
        top, left = gap + row * (height + gap), gap + col * (width + gap)
        sheet[top:top + height, left:left + width] = image
    return sheet
