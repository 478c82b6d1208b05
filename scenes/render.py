"""Offscreen rendering from the scene's camera.

One OpenGL context per renderer, kept for its life; the MuJoCo render
context (meshes, textures) is rebuilt when the model changes. Creating a GL
context costs ~100 ms in software EGL, a render context ~5 ms, so keeping
the former is what makes per-episode object changes affordable.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # must precede mujoco's first GL use

import mujoco  # noqa: E402
import numpy as np  # noqa: E402


def _gl_context_class():
    """The GL context for MUJOCO_GL (default egl), even if mujoco was imported before us."""
    backend = os.environ.get("MUJOCO_GL", "egl").lower()
    if backend == "egl":
        from mujoco.egl import GLContext
    elif backend == "osmesa":
        from mujoco.osmesa import GLContext
    else:
        GLContext = mujoco.GLContext
    return GLContext


class SceneRenderer:
    def __init__(self, width: int, height: int, max_geoms: int = 500):
        self.width, self.height = width, height
        self._gl = _gl_context_class()(width, height)
        self._gl.make_current()
        self._viewport = mujoco.MjrRect(0, 0, width, height)
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._max_geoms = max_geoms
        self._model: mujoco.MjModel | None = None
        self._context: mujoco.MjrContext | None = None
        self._scene: mujoco.MjvScene | None = None
        self._rgb = np.empty((height, width, 3), dtype=np.uint8)

    def set_model(self, model: mujoco.MjModel, camera_id: int) -> None:
        if model.vis.global_.offwidth < self.width or model.vis.global_.offheight < self.height:
            raise ValueError(
                f"model offscreen buffer {model.vis.global_.offwidth}x{model.vis.global_.offheight} "
                f"is smaller than the renderer's {self.width}x{self.height}"
            )
        self._gl.make_current()
        if self._context is not None:
            self._context.free()
        self._model = model
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_50)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._scene = mujoco.MjvScene(model, maxgeom=self._max_geoms)
        self._camera.fixedcamid = camera_id

    def upload_texture(self, texture_id: int) -> None:
        """Push a texture whose `tex_data` changed in place to the GPU copy."""
        self._gl.make_current()
        mujoco.mjr_uploadTexture(self._model, self._context, texture_id)

    def render(self, data: mujoco.MjData, out: np.ndarray | None = None) -> np.ndarray:
        """RGB image (H, W, 3) uint8 from the fixed camera, top row first."""
        self._gl.make_current()
        mujoco.mjv_updateScene(self._model, data, self._option, None, self._camera,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        mujoco.mjr_render(self._viewport, self._scene, self._context)
        mujoco.mjr_readPixels(self._rgb, None, self._viewport, self._context)
        image = np.flipud(self._rgb)
        if out is None:
            return image.copy()
        out[...] = image
        return out

    def close(self) -> None:
        if self._context is not None:
            self._context.free()
            self._context = None
        if self._gl is not None:
            self._gl.free()
            self._gl = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: GL may already be gone
            pass
