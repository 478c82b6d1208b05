"""`workbench scene`: validate, list and preview scene specs; print their field reference."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    parser = subparsers.add_parser("scene", help="validate, list and preview scenes")
    sub = parser.add_subparsers(dest="scene_command", required=True, metavar="ACTION")

    validate = sub.add_parser("validate", help="check a scene TOML file (exit 2 with the field and reason if bad)")
    validate.add_argument("file", help="scene TOML path or built-in scene name")
    validate.add_argument("--build", action="store_true", help="also compile it with MuJoCo")
    validate.set_defaults(func=validate_command)

    listing = sub.add_parser("list", help="list the built-in scenes")
    listing.set_defaults(func=list_command)

    preview = sub.add_parser("preview", help="contact sheet of N episodes' first frames")
    preview.add_argument("scene", help="built-in scene name or TOML path")
    preview.add_argument("--n", type=int, default=16, help="number of episodes (tiles)")
    preview.add_argument("--out", type=Path, default=Path("sheet.png"), help="PNG to write")
    preview.add_argument("--size", type=int, default=128, help="tile size in pixels")
    preview.add_argument("--seed", type=int, default=0)
    preview.add_argument("--split", choices=["train", "test"], default=None)
    preview.add_argument("--video", type=Path, default=None,
                         help="also write one oracle episode as MP4 (imageio)")
    preview.set_defaults(func=preview_command)

    reference = sub.add_parser("reference", help="print every scene field (path, type, default, constraint, "
                                                  "description) as Markdown tables")
    reference.add_argument("--update", type=Path, default=None, metavar="DOC",
                           help="rewrite the generated block of this Markdown file instead of printing")
    reference.set_defaults(func=reference_command)


def validate_command(args: argparse.Namespace) -> int:
    from scenes.spec import load_scene

    spec = load_scene(args.file)
    message = (f"ok: scene {spec.name!r}: {spec.objects.count} objects (scene default: {spec.objects.split} split; "
               "eval and drive draw the test split unless given --split train), "
               f"bin {spec.bin.inner_size[0]:.2f} x {spec.bin.inner_size[1]:.2f} m, "
               f"camera {spec.camera.width}x{spec.camera.height}, {len(spec.lights)} lights, "
               f"shadow map {spec.render.shadow_size}")
    if args.build:
        from scenes.build import build_scene
        from scenes.objects import draw_object_ids

        ids = spec.objects.ids or draw_object_ids(np.random.default_rng(0), spec.objects.count,
                                                  spec.objects.split, spec.objects.kinds, spec.objects.meshes,
                                                  spec.objects.household)
        model = build_scene(spec, ids).model
        message += f"; compiled: {model.nbody} bodies, {model.ngeom} geoms"
    print(message)
    return 0


def list_command(args: argparse.Namespace) -> int:
    from scenes.spec import builtin_scenes, load_scene

    for name in builtin_scenes():
        print(f"{name:20s} {load_scene(name).description}")
    return 0


def reference_command(args: argparse.Namespace) -> int:
    from workbench.cli.spec_reference import scene_reference, update_document
    from workbench.errors import UserError

    if args.update is None:
        print(scene_reference(), end="")
        return 0
    try:
        changed = update_document(args.update, scene_reference())
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(f"{'updated' if changed else 'unchanged'}: {args.update}")
    return 0


def preview_command(args: argparse.Namespace) -> int:
    from workbench.errors import UserError
    from workbench.evaluation.reports.sheet import contact_sheet
    from workbench.files import write_image_atomic
    from workbench.sim.env import GraspEnv

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    env = GraspEnv(args.scene, split=args.split, image_size=args.size, **_profile_kwargs(args))
    frames = [env.reset(seed=args.seed + i)[0]["image"] for i in range(args.n)]
    write_image_atomic(args.out, contact_sheet(frames))
    print(f"wrote {args.out} ({args.n} episodes of {env.spec_scene.name})")
    if args.video:
        _write_video(env, args.video, args.seed)
        print(f"wrote {args.video} (one oracle episode)")
    env.close()
    return 0


def _profile_kwargs(args) -> dict:
    return {"profile": args.profile} if getattr(args, "profile", None) else {}


def _write_video(env, path: Path, seed: int) -> None:
    import imageio.v2 as imageio

    from workbench.sim.scripted import OraclePolicy

    policy = OraclePolicy(env)
    observation, _ = env.reset(seed=seed)
    policy.reset(np.random.default_rng(seed))
    frames, done = [observation["image"]], False
    while not done:
        observation, _, done, _, _ = env.step(policy.act(observation))
        frames.append(observation["image"])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp{path.suffix}")
    imageio.mimwrite(temporary, frames, fps=env.metadata["render_fps"], macro_block_size=1)
    temporary.replace(path)
