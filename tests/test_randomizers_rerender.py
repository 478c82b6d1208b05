"""Re-rendering: recorded states and samples give the same pixels; a new look leaves the physics alone."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from randomizers import EpisodeRerenderer, load_profile, rerender_episode, set_path  # noqa: E402
from randomizers.rerender import recorded_scales  # noqa: E402
from workbench.sim.env import GraspEnv  # noqa: E402
from workbench.sim.scripted import OraclePolicy  # noqa: E402

SEED = 3


def run_episode(env: GraspEnv, seed: int, actions=None) -> dict:
    """One episode: the oracle's actions (or the given ones) and everything recorded on the way."""
    observation, info = env.reset(seed=seed)
    policy = OraclePolicy(env)
    policy.reset(np.random.default_rng(seed))
    episode = {"states": [info["physics_state"]], "records": [info["randomization"]],
               "images": [observation["image"]], "clean": [env.clean_image], "rewards": [], "actions": [],
               "object_ids": info["object_ids"], "scene": env.spec_scene}
    done = False
    while not done:
        action = policy.act(observation) if actions is None else actions[len(episode["actions"])]
        observation, reward, done, _, info = env.step(action)
        for key, value in (("states", info["physics_state"]), ("records", info["randomization"]),
                           ("images", observation["image"]), ("clean", env.clean_image), ("rewards", reward),
                           ("actions", action)):
            episode[key].append(value)
    episode["success"] = info["success"]
    return episode


@pytest.fixture(scope="module")
def wide_episode():
    # Train split: the object randomizer scales the objects, so re-rendering must rebuild them scaled.
    env = GraspEnv("bin_grasp", split="train", profile="wide")
    episode = run_episode(env, SEED)
    env.close()
    return episode


def test_recorded_episode_rerenders_pixel_identical(wide_episode):
    assert recorded_scales(wide_episode["records"]) is not None
    assert all("image" in record for record in wide_episode["records"])  # wide augments every frame anew
    images, clean = rerender_episode(wide_episode["scene"], wide_episode["object_ids"], wide_episode["states"],
                                     wide_episode["records"], profile="wide")
    for t, (image, original) in enumerate(zip(clean, wide_episode["clean"])):
        np.testing.assert_array_equal(image, original, err_msg=f"clean frame {t}")
    for t, (image, original) in enumerate(zip(images, wide_episode["images"])):
        np.testing.assert_array_equal(image, original, err_msg=f"observed frame {t}")


def test_new_visual_sample_new_look_same_states(wide_episode):
    rerenderer = EpisodeRerenderer(wide_episode["scene"], wide_episode["object_ids"], recorded_scales(wide_episode["records"]),
                                   profile="wide")
    records = rerenderer.draw_records(np.random.default_rng(99), len(wide_episode["states"]))
    _, clean = rerenderer.render(wide_episode["states"], records)
    rerenderer.close()
    difference = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(clean, wide_episode["clean"])])
    assert difference > 5


def test_other_visual_ranges_leave_physics_and_reward_unchanged(wide_episode):
    # Same seed, same actions, different visual ranges: every visual sample differs, the physics must not.
    profile = load_profile("wide")
    for path, value in [("lighting.intensity", {"low": 0.2, "high": 0.5}),
                        ("texture.kinds", {"checker": 1.0}),
                        ("camera.rotation_deg", {"low": 5.0, "high": 8.0}),
                        ("image.color_jitter.p", 0.0)]:
        profile = set_path(profile, path, value)
    env = GraspEnv("bin_grasp", split="train", profile=profile)
    replay = run_episode(env, SEED, actions=wide_episode["actions"])
    env.close()
    assert replay["object_ids"] == wide_episode["object_ids"]
    for state, original in zip(replay["states"], wide_episode["states"]):
        np.testing.assert_array_equal(state, original)
    assert replay["rewards"] == wide_episode["rewards"]
    for name in ("object", "dynamics"):
        assert replay["records"][0][name] == wide_episode["records"][0][name]
    assert replay["records"][0]["lighting"] != wide_episode["records"][0]["lighting"]
    assert np.abs(replay["clean"][0].astype(int) - wide_episode["clean"][0]).mean() > 5
