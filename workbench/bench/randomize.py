"""The cost of randomizing: drawing and applying each randomizer against a recompile.

All figures are medians in milliseconds. In place: for each enabled randomizer
of the profile, per episode, the draw (a JSON-able sample from a generator)
and the apply (restore the nominal fields, write the sample into the compiled
model). `visual_apply_ms` times what an episode's new look costs in place:
drawing and applying the visual randomizers (lighting, texture, camera)
together. The image augmentation is per frame.

The texture randomizer only points materials at textures of the scene's
texture pool; filling the pool (drawing, writing and uploading its textures)
is one-off work per model, timed apart as `pool_fill_ms`.

Recompile: what the same change costs through `MjSpec`: building and
compiling the scene (same objects) and making the render context for the new
model (textures and meshes to the GPU), timed in the same run on the same
scene, so the ratio compares like with like. `env_rebuild_ms` adds what the
environment pays on top for a new model: a new MjData and the objects dropped
and settled again.
"""

from __future__ import annotations

import os
import time

import mujoco
import numpy as np

from randomizers import Randomization
from randomizers.episode import VISUAL
from scenes.build import build_scene
from scenes.objects import draw_object_ids
from scenes.render import SceneRenderer
from scenes.spec import load_scene
from scenes.task import GraspTask

_MODEL_VISUAL = tuple(name for name in VISUAL if name != "image")


def add_arguments(parser) -> None:
    parser.add_argument("--profile", default="wide", help="profile whose randomizers are timed")
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--episodes", type=int, default=200, help="draws and applies timed per randomizer")
    parser.add_argument("--objects", type=int, default=None, help="objects in the scene (default: the scene's count)")
    parser.add_argument("--recompiles", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> dict:
    size = getattr(args, "size", 64)
    episodes = max(1, getattr(args, "episodes", 200))
    recompiles = max(1, getattr(args, "recompiles", 30))
    rng = np.random.default_rng(getattr(args, "seed", 0))
    spec = load_scene(getattr(args, "scene", "bin_grasp"))
    camera = spec.camera.model_copy(update={"width": size, "height": size})
    spec = spec.model_copy(update={"camera": camera})

    randomization = Randomization(getattr(args, "profile", "wide"))
    ids = draw_object_ids(rng, getattr(args, "objects", None) or spec.objects.count, "train", spec.objects.kinds)
    scene = randomization.build_scene(spec, ids)
    renderer = SceneRenderer(size, size)
    renderer.set_model(scene.model, scene.handles.camera)
    data = mujoco.MjData(scene.model)
    GraspTask(scene).reset(data, rng)
    frame = renderer.render(data)

    figures: dict = {"profile": randomization.profile.name, "scene": spec.name, "image_size": size,
                     "objects": len(ids), "episodes": episodes,
                     "load_average_1min": os.getloadavg()[0]}  # other work on the machine skews timings
    draw_ms, apply_ms = _time_in_place(randomization, scene, data, renderer, frame, rng, episodes)
    for name in randomization.randomizers:
        figures[f"draw_ms.{name}"] = draw_ms[name]
        figures[f"apply_ms.{name}"] = apply_ms[name]
    if "object" in randomization.randomizers and randomization.profile.object.poses:
        figures["apply_ms.object_poses_settle"] = _time_pose_settle(randomization, scene, data, rng)
    visual = [name for name in _MODEL_VISUAL if name in randomization.randomizers]
    figures["visual_randomizers"] = ",".join(visual)
    figures["visual_draw_ms"] = sum(draw_ms[name] for name in visual)
    figures["visual_apply_only_ms"] = sum(apply_ms[name] for name in visual)
    figures["visual_apply_ms"] = _time_visual_episode(randomization, scene, renderer, rng, visual, episodes)
    if "texture" in randomization.randomizers:
        figures["textures_per_episode"] = len(randomization.randomizers["texture"].surfaces(scene))
        figures["pool_textures"] = len(scene.handles.pool_textures)
        figures["pool_fill_ms"] = _time_pool_fill(randomization, scene, renderer, max(3, recompiles // 3))

    compile_ms, context_ms = _time_recompile(spec, ids, renderer, recompiles)
    figures["recompile_compile_ms"] = compile_ms
    figures["recompile_render_context_ms"] = context_ms
    figures["recompile_ms"] = compile_ms + context_ms
    # The pool's textures make every compile and render context dearer: the same scene without them.
    poolless = spec.model_copy(update={"render": spec.render.model_copy(update={"texture_pool": 0})})
    figures["recompile_without_pool_ms"] = sum(_time_recompile(poolless, ids, renderer, recompiles))
    figures["recompile_scaled_objects_compile_ms"], figures["compile_cache_hit_ms"] = _time_scaled_build(
        randomization, spec, ids, rng, recompiles)
    figures["env_rebuild_ms"] = _time_env_rebuild(spec, ids, renderer, rng, max(3, recompiles // 5))
    if figures["visual_apply_ms"] > 0:
        figures["recompile_over_visual_apply"] = figures["recompile_ms"] / figures["visual_apply_ms"]
        figures["env_rebuild_over_visual_apply"] = figures["env_rebuild_ms"] / figures["visual_apply_ms"]
        figures["recompile_without_pool_over_visual_apply"] = (figures["recompile_without_pool_ms"]
                                                               / figures["visual_apply_ms"])
    renderer.close()
    return figures


def _time_in_place(randomization, scene, data, renderer, frame, rng, episodes) -> tuple[dict, dict]:
    """Median ms per episode of each randomizer's draw and apply."""
    draw = {name: [] for name in randomization.randomizers}
    apply = {name: [] for name in randomization.randomizers}
    for warm_up in range(3):  # photos loaded, caches and GL state warm: time the steady state
        randomization.apply(randomization.draw(rng, scene), scene, None, renderer)
    for _ in range(episodes):
        for name, randomizer in randomization.randomizers.items():
            stream = np.random.default_rng(rng.integers(2**63))
            start = time.perf_counter()
            sample = randomizer.draw(stream, scene)
            middle = time.perf_counter()
            if name == "image":
                randomizer.augment(frame, sample)
            else:
                target = randomization.target(scene, renderer)
                randomizer.apply(sample, target)
                target.flush()
            end = time.perf_counter()
            draw[name].append(middle - start)
            apply[name].append(end - middle)
    return ({name: _median_ms(times) for name, times in draw.items()},
            {name: _median_ms(times) for name, times in apply.items()})


def _median_ms(seconds: list[float]) -> float:
    # The median, not the mean: figures stay put when other work shares the machine.
    return 1e3 * float(np.median(seconds))


def _time_visual_episode(randomization, scene, renderer, rng, visual, episodes) -> float:
    """Median ms per episode to draw and apply the visual randomizers together (0 when none is on)."""
    if not visual:
        return 0.0
    times = []
    for _ in range(episodes):
        start = time.perf_counter()
        randomization.apply(randomization.draw(rng, scene, visual), scene, None, renderer)
        times.append(time.perf_counter() - start)
    return _median_ms(times)


def _time_pool_fill(randomization, scene, renderer, repeats: int) -> float:
    """Median ms of the texture pool's one-off fill for a model: draw, write and upload every pool texture."""
    randomizer = randomization.randomizers["texture"]
    times = []
    for _ in range(repeats):
        target = randomization.target(scene, renderer)
        target.nominal.pool_seed = None  # as if the model were new
        start = time.perf_counter()
        randomizer.startup(target)
        target.flush()
        times.append(time.perf_counter() - start)
    return _median_ms(times)


def _time_pose_settle(randomization, scene, data, rng, episodes: int = 5) -> float:
    randomizer = randomization.randomizers["object"]
    times = []
    for _ in range(episodes):
        sample = randomizer.draw(np.random.default_rng(rng.integers(2**63)), scene)
        start = time.perf_counter()
        randomizer.apply_state(sample, scene, data)
        times.append(time.perf_counter() - start)
    return _median_ms(times)


def _time_env_rebuild(spec, ids, renderer, rng, rebuilds: int) -> float:
    """Median ms of what the environment pays for a new model: compile, render context, a new MjData
    and the objects dropped and settled again (a fresh compile loses the state)."""
    times = []
    for _ in range(rebuilds):
        start = time.perf_counter()
        scene = build_scene(spec, ids)
        renderer.set_model(scene.model, scene.handles.camera)
        data = mujoco.MjData(scene.model)
        GraspTask(scene).reset(data, rng)
        times.append(time.perf_counter() - start)
    return _median_ms(times)


def _time_scaled_build(randomization, spec, ids, rng, builds: int) -> tuple[float, float]:
    """Median ms to compile the scene with newly scaled objects, and to take it from the cache again."""
    miss, hit = [], []
    for _ in range(builds):
        scales = tuple(float(s) for s in rng.uniform(0.85, 1.15, size=len(ids)))
        start = time.perf_counter()
        randomization.scenes.get(spec, ids, scales)
        middle = time.perf_counter()
        randomization.scenes.get(spec, ids, scales)
        end = time.perf_counter()
        miss.append(middle - start)
        hit.append(end - middle)
    return _median_ms(miss), _median_ms(hit)


def _time_recompile(spec, ids, renderer, recompiles: int) -> tuple[float, float]:
    """Median ms to build and compile the same scene through MjSpec, and to make its render context."""
    compile_s, context_s = [], []
    for _ in range(recompiles):
        start = time.perf_counter()
        scene = build_scene(spec, ids)
        middle = time.perf_counter()
        renderer.set_model(scene.model, scene.handles.camera)
        end = time.perf_counter()
        compile_s.append(middle - start)
        context_s.append(end - middle)
    return _median_ms(compile_s), _median_ms(context_s)
