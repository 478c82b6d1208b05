"""`workbench run`: the main job on the embedded defaults, stage by stage.

Each stage writes its result into the run directory and is skipped on a
rerun when its result is already there, so a killed run continues where it
stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="the main job: preview, evaluate, train, export (cached stages)")
    parser.add_argument("--name", default="main", help="run directory name under --runs")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from workbench.env import GraspEnv
    from workbench.evaluate import run_episodes
    from workbench.files import write_bytes_atomic, write_image_atomic
    from workbench.scripted import make_policy
    from workbench.sheet import contact_sheet

    run_dir = args.runs / args.name
    run_dir.mkdir(parents=True, exist_ok=True)

    def stage(name: str, output: Path, work) -> None:
        if output.exists():
            print(f"[{name}] cached: {output}")
            return
        start = time.perf_counter()
        work(output)
        print(f"[{name}] done in {time.perf_counter() - start:.0f} s: {output}")

    def preview(output: Path) -> None:
        env = GraspEnv(args.scene, image_size=128)
        frames = [env.reset(seed=args.seed + i)[0]["image"] for i in range(16)]
        env.close()
        write_image_atomic(output, contact_sheet(frames))

    def evaluate(policy_name: str):
        def work(output: Path) -> None:
            env = GraspEnv(args.scene, split="test")
            result = run_episodes(env, make_policy(policy_name, env), args.episodes, args.seed + 1000,
                                  desc=f"eval {policy_name}")
            env.close()
            record = {"policy": policy_name, "scene": args.scene, "split": "test", **result.to_dict()}
            write_bytes_atomic(output, json.dumps(record, indent=2).encode())
            print(f"  {policy_name}: {result}")
        return work

    stage("scene preview", run_dir / "scene_sheet.png", preview)
    stage("eval oracle", run_dir / "eval_oracle.json", evaluate("oracle"))
    stage("eval explorer", run_dir / "eval_explorer.json", evaluate("explorer"))
    return 0
