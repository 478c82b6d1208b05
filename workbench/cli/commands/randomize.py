"""`workbench randomize`: preview, validate, show and diff randomization profiles."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    parser = subparsers.add_parser("randomize", help="preview, validate, show and diff randomization profiles")
    sub = parser.add_subparsers(dest="randomize_command", required=True, metavar="ACTION")

    preview = sub.add_parser("preview", help="contact sheet of N episodes' first frames under a profile")
    preview.add_argument("--profile", default="default", help="built-in profile name or TOML path")
    preview.add_argument("--scene", default="bin_grasp", help="built-in scene name or TOML path")
    preview.add_argument("--split", choices=["train", "test"], default=None)
    preview.add_argument("--n", type=int, default=64, help="number of episodes (tiles)")
    preview.add_argument("--seed", type=int, default=0, help="episode i resets with seed + i")
    preview.add_argument("--size", type=int, default=None, help="tile size in pixels (default: the scene's)")
    preview.add_argument("--out", type=Path, default=Path("sheet.png"), help="PNG to write")
    _add_set_option(preview)
    preview.set_defaults(func=preview_command)

    validate = sub.add_parser("validate", help="check a profile TOML (exit 2 with the field and reason if bad)")
    validate.add_argument("file", help="profile TOML path or built-in profile name")
    validate.set_defaults(func=validate_command)

    show = sub.add_parser("show", help="print a profile with every default filled in, as TOML")
    show.add_argument("profile", help="built-in profile name or TOML path")
    _add_set_option(show)
    show.set_defaults(func=show_command)

    diff = sub.add_parser("diff", help="the parameters that differ between two profiles, by dotted path")
    diff.add_argument("first", help="built-in profile name or TOML path")
    diff.add_argument("second", help="built-in profile name or TOML path")
    diff.set_defaults(func=diff_command)


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="assignments",
                        help="override one parameter by dotted path, e.g. lighting.intensity.high=2.0")


def load_user_profile(name_or_path: str, assignments: list[str] = ()):
    """A profile with --set overrides applied; any problem is a UserError naming file, field and reason."""
    from randomizers import ProfileError, load_profile, parse_assignment, set_path
    from randomizers.config import profile_path
    from workbench.errors import UserError

    try:
        source = str(profile_path(name_or_path))
        profile = load_profile(name_or_path)
        for text in assignments:
            path, value = parse_assignment(text)
            profile = set_path(profile, path, value, source=f"{source} (--set {text})")
        return profile
    except ProfileError as exc:
        raise UserError(str(exc)) from None


def preview_command(args: argparse.Namespace) -> int:
    from workbench.errors import UserError
    from workbench.evaluation.reports.sheet import contact_sheet
    from workbench.files import write_image_atomic
    from workbench.sim.env import GraspEnv

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    profile = load_user_profile(args.profile, args.assignments)
    env = GraspEnv(args.scene, split=args.split, image_size=args.size, profile=profile)
    try:
        tiles = [env.reset(seed=args.seed + i)[0]["image"] for i in range(args.n)]
    finally:
        env.close()
    write_image_atomic(args.out, contact_sheet(tiles))
    print(f"wrote {args.out}: {args.n} first frames of {env.spec_scene.name} under profile {profile.name!r}, "
          f"mean pairwise tile difference {mean_pairwise_difference(tiles):.2f} (of 255)")
    return 0


def mean_pairwise_difference(tiles: list[np.ndarray]) -> float:
    """Mean absolute pixel difference over all pairs of tiles: how much the look varies."""
    flat = np.stack([tile.reshape(-1) for tile in tiles]).astype(np.float32)
    if len(flat) < 2:
        return 0.0
    total = sum(float(np.abs(flat[i + 1:] - flat[i]).mean(axis=1).sum()) for i in range(len(flat) - 1))
    return total / (len(flat) * (len(flat) - 1) / 2)


def validate_command(args: argparse.Namespace) -> int:
    from randomizers import ORDER
    from randomizers.config import profile_path

    profile = load_user_profile(args.file)
    enabled = [f"{name} (per {getattr(profile, name).frequency})" for name in ORDER if getattr(profile, name).enabled]
    print(f"ok: profile {profile.name!r} ({profile_path(args.file)}): "
          f"{', '.join(enabled) if enabled else 'nothing randomized'}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    from randomizers import format_profile

    print(format_profile(load_user_profile(args.profile, args.assignments)), end="")
    return 0


def diff_command(args: argparse.Namespace) -> int:
    from randomizers import diff_profiles

    first, second = load_user_profile(args.first), load_user_profile(args.second)
    differences = diff_profiles(first, second)
    for path, a, b in differences:
        print(f"{path}: {_shown(a)} -> {_shown(b)}")
    if not differences:
        print(f"no differences between {first.name!r} and {second.name!r}")
    return 0


def _shown(value) -> str:
    return "(absent)" if value is None else repr(value)
