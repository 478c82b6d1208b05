import os

# Rendering is headless: pick the software EGL backend before mujoco's GL loads.
os.environ.setdefault("MUJOCO_GL", "egl")
