"""Image augmentation of observations: colour jitter, noise, blur, JPEG and shadows (albumentations).

The sample is one integer seed drawn from the caller's generator; the
pipeline is reseeded with it before each image, so the same seed on the same
image gives the same bytes. The parameters albumentations actually applied
(from `ReplayCompose`) are returned for the record, large arrays left out.
"""

from __future__ import annotations

import numpy as np

from randomizers.config import ImageParams

_MAX_RECORDED_ELEMENTS = 16  # larger arrays (noise maps) are logged as shape, mean and std


class ImageRandomizer:
    name = "image"

    def __init__(self, params: ImageParams):
        self.params = params
        import albumentations as A  # heavy (pulls in torch): only when augmenting

        self.pipeline = A.ReplayCompose(build_transforms(params))

    @property
    def frequency(self) -> str:
        return self.params.frequency

    def draw(self, rng: np.random.Generator, scene=None) -> dict:
        return {"seed": int(rng.integers(2**31))}

    def augment(self, image: np.ndarray, sample: dict) -> tuple[np.ndarray, list[dict]]:
        """The augmented image and the applied parameters of each transform."""
        self.pipeline.set_random_seed(sample["seed"])
        result = self.pipeline(image=image)
        applied = [{"transform": t["__class_fullname__"].rsplit(".", 1)[-1], "applied": bool(t["applied"]),
                    "params": jsonable(t["params"]) if t["applied"] else None}
                   for t in result["replay"]["transforms"]]
        return result["image"], applied


def build_transforms(p: ImageParams) -> list:
    import albumentations as A

    jitter, noise, blur, jpeg, shadow = p.color_jitter, p.noise, p.blur, p.jpeg, p.shadow
    return [
        A.ColorJitter(brightness=(jitter.brightness.low, jitter.brightness.high),
                      contrast=(jitter.contrast.low, jitter.contrast.high),
                      saturation=(jitter.saturation.low, jitter.saturation.high),
                      hue=(jitter.hue.low, jitter.hue.high), p=jitter.p),
        A.GaussNoise(std_range=(noise.std.low, noise.std.high), p=noise.p),
        A.GaussianBlur(blur_limit=(blur.kernel.low, blur.kernel.high),
                       sigma_limit=(blur.sigma.low, blur.sigma.high), p=blur.p),
        A.ImageCompression(quality_range=(jpeg.quality.low, jpeg.quality.high), p=jpeg.p),
        A.RandomShadow(num_shadows_limit=(shadow.count.low, shadow.count.high),
                       shadow_intensity_range=(shadow.intensity.low, shadow.intensity.high), p=shadow.p),
    ]


def jsonable(value):
    """Plain Python values for JSON; large arrays become a summary."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.size > _MAX_RECORDED_ELEMENTS:
            return {"shape": list(value.shape), "mean": float(value.mean()), "std": float(value.std())}
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
