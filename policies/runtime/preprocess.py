"""Camera frame -> the network's image, as training saw it. numpy only.

Training images are the simulator's camera rendered directly at the trained size:
uint8, RGB, channel-last (H, W, 3), top row first, no normalization outside the network
(the ONNX graph divides by 255). A robot camera's frame goes through:

1. channel order: "BGR" frames (OpenCV) are flipped to RGB;
2. crop: a box (top, left, height, width) in the frame's pixels, calibrated so it sees what
   the sim camera sees; by default the largest centred box with the trained aspect ratio;
3. resize: area averaging (each output pixel is the mean of the input area it covers,
   fractional edges weighted), rounded half up to uint8. A crop already at the trained size
   passes through unchanged, so simulator frames reach the network bit for bit.

Frames smaller than the trained size are refused: upsampling invents detail training
never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHANNEL_ORDERS = ("RGB", "BGR")
MAX_FRAME_SIDE = 8192


class FrameError(ValueError):
    """A camera frame the runtime cannot use; the message says why."""


@dataclass(frozen=True)
class CropBox:
    top: int
    left: int
    height: int
    width: int

    def __post_init__(self) -> None:
        for name in ("top", "left", "height", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"crop {name} must be a non-negative integer, got {value!r}")
        if self.height == 0 or self.width == 0:
            raise ValueError("crop height and width must be positive")


class Preprocessor:
    def __init__(self, height: int, width: int, crop: CropBox | None = None, channel_order: str = "RGB"):
        if channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
        self.height, self.width = height, width
        self.crop = crop
        self.channel_order = channel_order

    def crop_box(self, frame_height: int, frame_width: int) -> CropBox:
        if self.crop is not None:
            box = self.crop
            if box.top + box.height > frame_height or box.left + box.width > frame_width:
                raise FrameError(f"crop box {box} does not fit a {frame_width}x{frame_height} frame")
            return box
        # Largest centred box with the trained aspect ratio (exact integer arithmetic).
        if frame_width * self.height >= frame_height * self.width:
            height, width = frame_height, frame_height * self.width // self.height
        else:
            height, width = frame_width * self.height // self.width, frame_width
        return CropBox((frame_height - height) // 2, (frame_width - width) // 2, height, width)

    def __call__(self, frame) -> np.ndarray:
        """(H, W, 3) uint8 frame -> (height, width, 3) uint8 RGB image."""
        if not isinstance(frame, np.ndarray):
            raise FrameError(f"frame must be a numpy array, got {type(frame).__name__}")
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise FrameError(f"frame must be (H, W, 3), got shape {frame.shape}")
        if frame.dtype != np.uint8:
            raise FrameError(f"frame must be uint8 (0..255), got {frame.dtype}")
        rows, cols = frame.shape[:2]
        if rows < self.height or cols < self.width:  # an empty (0x0) frame included
            raise FrameError(f"frame {cols}x{rows} is smaller than the trained {self.width}x{self.height}; "
                             "the runtime does not upsample")
        if rows > MAX_FRAME_SIDE or cols > MAX_FRAME_SIDE:
            raise FrameError(f"frame {cols}x{rows} is larger than {MAX_FRAME_SIDE} pixels on a side")
        box = self.crop_box(rows, cols)
        if box.height < self.height or box.width < self.width:
            raise FrameError(f"frame crop {box.width}x{box.height} is smaller than the trained "
                             f"{self.width}x{self.height}; the runtime does not upsample")
        image = frame[box.top:box.top + box.height, box.left:box.left + box.width]
        if self.channel_order == "BGR":
            image = image[:, :, ::-1]
        if image.shape[:2] == (self.height, self.width):
            return np.ascontiguousarray(image)
        resized = _area_resize_axis(_area_resize_axis(image, self.height, 0), self.width, 1)
        return np.floor(resized + 0.5).clip(0, 255).astype(np.uint8)


def _area_resize_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Area-average ``x`` along ``axis`` down to ``size`` samples (float64 out).

    Output sample i covers the input interval [e_i, e_i+1) with e_i = i * n / size. Its
    sum is the whole samples from floor(e_i) to floor(e_i+1), plus the fraction of the
    sample at the far edge, minus the fraction before the near edge.
    """
    n = x.shape[axis]
    edges = np.arange(size + 1) * n / size  # exact at both ends
    whole = np.floor(edges).astype(np.int64)
    fraction = edges - whole
    # Whole samples, exactly (integers in uint32 for uint8 input): n >= size, so the
    # floors strictly increase and reduceat sums non-empty runs; the last runs to the end.
    accumulator = np.uint32 if x.dtype == np.uint8 else np.float64
    sums = np.add.reduceat(x, whole[:-1], axis=axis, dtype=accumulator).astype(np.float64)
    shape = [1] * x.ndim
    shape[axis] = size + 1
    edge_parts = np.take(x, np.minimum(whole, n - 1), axis=axis).astype(np.float64) * fraction.reshape(shape)
    far, near = [slice(None)] * x.ndim, [slice(None)] * x.ndim
    far[axis], near[axis] = slice(1, size + 1), slice(0, size)
    return (sums + edge_parts[tuple(far)] - edge_parts[tuple(near)]) * (size / n)
