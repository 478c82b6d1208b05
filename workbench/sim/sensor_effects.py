"""Camera sensor effects in numpy, as an observation wrapper over GraspEnv.

A real camera blurs, darkens towards the corners (vignetting), tints (white balance
and exposure), adds noise and compresses (JPEG). Rendered frames do none of that,
so these effects are part of the `proxy-real` evaluation suite: a target domain no
training profile samples from.

Per episode the wrapper draws one camera (blur, vignetting, white balance, exposure,
JPEG quality and noise level) from ranges; per frame it draws fresh noise. Draws
come from the Generator it was given, reseeded from the reset seed when one is
passed (``[seed, SENSOR_STREAM]``), so an episode's effects repeat with its seed.
The episode's draw is in ``info["sensor_effects"]``.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
from PIL import Image

SENSOR_STREAM = 7  # seed stream of the sensor draws, apart from the scene's

Range = tuple[float, float]


@dataclass(frozen=True)
class SensorEffects:
    """Ranges of the per-episode camera draw; a range (x, x) fixes the value."""

    blur_sigma: Range = (0.0, 0.0)  # Gaussian blur, pixels
    vignetting: Range = (0.0, 0.0)  # corner darkening: gain 1 - v * r^2, r = 1 at the corners
    white_balance: Range = (1.0, 1.0)  # per-channel gain, drawn per channel
    exposure: Range = (1.0, 1.0)  # overall gain
    noise_std: Range = (0.0, 0.0)  # Gaussian noise std, in 0-255 units, fresh per frame
    jpeg_quality: tuple[int, int] = (100, 100)  # 100 with no other effect: JPEG is skipped

    def __post_init__(self) -> None:
        for name in ("blur_sigma", "vignetting", "white_balance", "exposure", "noise_std", "jpeg_quality"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"sensor effect {name}: low {low} is above high {high}")
        if self.blur_sigma[0] < 0 or self.noise_std[0] < 0 or not 0 <= self.vignetting[0] <= self.vignetting[1] <= 1:
            raise ValueError("sensor effects: blur and noise must be >= 0 and vignetting within [0, 1]")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"sensor effect jpeg_quality must lie in 1..100, got {self.jpeg_quality}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CameraDraw:
    """One episode's camera: the values drawn from SensorEffects' ranges."""

    blur_sigma: float
    vignetting: float
    white_balance: tuple[float, float, float]
    exposure: float
    noise_std: float
    jpeg_quality: int

    def to_dict(self) -> dict:
        return asdict(self)


def draw_camera(effects: SensorEffects, rng: np.random.Generator) -> CameraDraw:
    return CameraDraw(
        blur_sigma=float(rng.uniform(*effects.blur_sigma)),
        vignetting=float(rng.uniform(*effects.vignetting)),
        white_balance=tuple(float(g) for g in rng.uniform(*effects.white_balance, size=3)),
        exposure=float(rng.uniform(*effects.exposure)),
        noise_std=float(rng.uniform(*effects.noise_std)),
        jpeg_quality=int(rng.integers(effects.jpeg_quality[0], effects.jpeg_quality[1] + 1)),
    )


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a float (H, W, 3) image, edges reflected."""
    if sigma <= 0:
        return image
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    height, width = image.shape[:2]
    rows = sum(t * padded[i:i + height, :, :] for i, t in enumerate(taps))
    return sum(t * rows[:, i:i + width, :] for i, t in enumerate(taps))


def vignette_gain(height: int, width: int, strength: float) -> np.ndarray:
    """(H, W, 1) gain 1 - strength * r^2, r the distance from the centre, 1 at the corners."""
    y = (np.arange(height) + 0.5) / height * 2 - 1
    x = (np.arange(width) + 0.5) / width * 2 - 1
    r2 = (y[:, None] ** 2 + x[None, :] ** 2) / 2.0
    return (1.0 - strength * r2)[..., None]


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.array(Image.open(buffer).convert("RGB"))  # a writable copy, as a render is


def apply_camera(image: np.ndarray, camera: CameraDraw, rng: np.random.Generator) -> np.ndarray:
    """Optics (blur, vignetting), then the sensor (gains, noise), then compression."""
    x = gaussian_blur(image.astype(np.float64), camera.blur_sigma)
    if camera.vignetting:
        x = x * vignette_gain(*image.shape[:2], camera.vignetting)
    x = x * (camera.exposure * np.asarray(camera.white_balance))
    if camera.noise_std:
        x = x + rng.normal(0.0, camera.noise_std, size=x.shape)
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if camera.jpeg_quality < 100:
        out = jpeg_roundtrip(out, camera.jpeg_quality)
    return out


class SensorEffectsWrapper(gym.Wrapper):
    """GraspEnv seen through a simulated camera sensor (see the module docstring)."""

    def __init__(self, env: gym.Env, effects: SensorEffects, rng: np.random.Generator):
        super().__init__(env)
        self.effects = effects
        self._rng = rng
        self._camera: CameraDraw | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng([seed, SENSOR_STREAM])
        self._camera = draw_camera(self.effects, self._rng)
        return self._observe(observation), self._info(info)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return self._observe(observation), reward, terminated, truncated, self._info(info)

    def _observe(self, observation: dict) -> dict:
        return {**observation, "image": apply_camera(observation["image"], self._camera, self._rng)}

    def _info(self, info: dict) -> dict:
        return {**info, "sensor_effects": self._camera.to_dict()}
