"""ADR (studies/adr.py): the range-update rule on synthetic success functions, exactly as specified
(buffer fills, thresholds, delta, limits, never past nominal, the boundary fraction); the ranges
switched in a live environment; the study file's bad input; a tiny run end to end, resumed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from randomizers import get_path, load_profile, set_path
from studies.adr import HIGH, LOW, AdrConfig, AdrParam, AdrState, Boundary, EpisodeDraw, apply_ranges, run_rule
from workbench import cli

STUDIES = Path(__file__).resolve().parent.parent / "studies"
INTENSITY = AdrParam("randomizers.lighting.intensity", delta=0.25, nominal_low=1.0, nominal_high=1.0,
                     limit_low=0.0, limit_high=2.0)
ANGLE = AdrParam("randomizers.lighting.direction_angle_deg", delta=5.0, nominal_low=0.0, nominal_high=10.0,
                 limit_low=0.0, limit_high=60.0)


def always(value):
    return lambda draw, episode: value


def pinned(state: AdrState, index: int, side: str) -> EpisodeDraw:
    value = state.boundary_value(Boundary(index, side))
    ranges = [(low, high) for low, high in zip(state.low, state.high)]
    ranges[index] = (value, value)
    return EpisodeDraw(tuple(ranges), Boundary(index, side))


def test_success_at_the_boundary_widens_by_delta_per_full_buffer_clipped_at_the_limits():
    config = AdrConfig(boundary_fraction=1.0, buffer_size=4, t_low=0.2, t_high=0.8, episodes=1)
    state = AdrState((INTENSITY, ANGLE), config)
    updates = run_rule(state, np.random.default_rng(0), always(1.0), 400)
    for index, param in enumerate(state.params):
        for side, sign, limit in ((LOW, -1, param.limit_low), (HIGH, 1, param.limit_high)):
            judged = [u for u in updates if u.path == param.path and u.side == side]
            assert judged and all(u.action == "widen" and u.mean == 1.0 for u in judged)
            start = param.nominal_low if side == LOW else param.nominal_high
            for step, update in enumerate(judged):  # each full buffer moves the boundary one delta, up to the limit
                expected = start + sign * param.delta * (step + 1)
                expected = max(expected, limit) if side == LOW else min(expected, limit)
                assert math.isclose(update.new, expected, abs_tol=1e-9)
            assert state.boundary_value(Boundary(index, side)) == limit  # 400 episodes reach every limit
    # nothing was judged before its buffer held buffer_size results: updates come every 4th pin of a boundary
    first = min(u.episode for u in updates)
    assert first >= config.buffer_size - 1


def test_failure_at_the_boundary_narrows_by_delta_never_past_the_nominal():
    config = AdrConfig(boundary_fraction=1.0, buffer_size=3, t_low=0.2, t_high=0.8, episodes=1)
    state = AdrState((INTENSITY, ANGLE), config, low=[0.0, 0.0], high=[2.0, 60.0])
    updates = run_rule(state, np.random.default_rng(1), always(0.0), 600)
    assert updates and all(u.action == "narrow" for u in updates)
    assert all(u.new <= INTENSITY.nominal_low for u in updates if u.path == INTENSITY.path and u.side == LOW)
    assert state.low == [1.0, 0.0] and state.high == [1.0, 10.0]  # back at the nominal ranges, not past them
    moves = [u for u in updates if u.path == INTENSITY.path and u.side == HIGH]
    assert [u.new for u in moves[:4]] == [1.75, 1.5, 1.25, 1.0] and all(u.new == 1.0 for u in moves[4:])


def test_thresholds_are_inclusive_and_between_them_the_boundary_stays():
    config = AdrConfig(boundary_fraction=1.0, buffer_size=4, t_low=0.25, t_high=0.75, episodes=1)
    state = AdrState((INTENSITY,), config, low=[0.5], high=[1.5])
    for results, action, new in (([1, 1, 1, 0], "widen", 1.75),  # mean 0.75 = t_high
                                 ([1, 0, 0, 0], "narrow", 1.5),  # mean 0.25 = t_low
                                 ([1, 1, 0, 0], "keep", 1.5)):  # mean 0.5
        for count, result in enumerate(results):
            update = state.record(pinned(state, 0, HIGH), result, count)
            assert (update is None) == (count < 3)  # judged only when the buffer is full
        assert (update.action, update.new) == (action, new)
        assert state.buffers[(0, HIGH)] == []  # cleared once judged
    assert state.low == [0.5] and state.buffers[(0, LOW)] == []  # the other boundary never moved
    assert state.record(EpisodeDraw(((0.5, 1.5),), None), 1.0, 99) is None  # a non-boundary episode judges nothing


def test_ranges_settle_where_a_synthetic_success_function_drops():
    """An episode succeeds when its intensity (drawn over the episode's range) lies in [0.5, 2.0]: ADR grows
    intensity from 1.0 by 0.25 until its boundaries straddle those edges, and keeps them there; the angle,
    which never hurts, grows to its limit."""
    config = AdrConfig(boundary_fraction=0.5, buffer_size=5, t_low=0.3, t_high=0.7, episodes=1)
    state = AdrState((INTENSITY, ANGLE), config)
    values = np.random.default_rng(4)

    def success(draw, episode):
        intensity = values.uniform(*draw.ranges[0])
        return float(0.5 <= intensity <= 2.0)

    lows, highs = [], []
    for chunk in range(30):
        run_rule(state, np.random.default_rng([3, chunk]), success, 100, first_episode=100 * chunk)
        lows.append(state.low[0])
        highs.append(state.high[0])
    assert set(lows[10:]) <= {0.25, 0.5} and set(highs[10:]) <= {2.0, 2.25}  # straddling the edges of success
    assert 0.5 in lows and 2.0 in highs
    assert state.high[1] == ANGLE.limit_high and state.low[1] == ANGLE.limit_low


def test_boundary_episodes_are_the_configured_fraction_sides_and_params_uniform():
    config = AdrConfig(boundary_fraction=0.3, buffer_size=10**6, episodes=1)
    state = AdrState((INTENSITY, ANGLE), config, low=[0.5, 0.0], high=[1.5, 10.0])
    rng = np.random.default_rng(7)
    draws = [state.draw(rng) for _ in range(6000)]
    pins = [d.boundary for d in draws if d.boundary is not None]
    tolerance = 4 * math.sqrt(0.3 * 0.7 / len(draws))
    assert abs(len(pins) / len(draws) - 0.3) < tolerance
    for index in (0, 1):
        for side in (LOW, HIGH):
            share = sum(p == Boundary(index, side) for p in pins) / len(pins)
            assert abs(share - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(pins))
    for draw in draws:  # a pinned parameter is at its boundary; the others keep their current ranges
        for index, (low, high) in enumerate(draw.ranges):
            if draw.boundary is not None and draw.boundary.index == index:
                value = state.boundary_value(draw.boundary)
                assert (low, high) == (value, value)
            else:
                assert (low, high) == (state.low[index], state.high[index])


def test_state_round_trips_through_json():
    config = AdrConfig(boundary_fraction=1.0, buffer_size=7, episodes=1)
    state = AdrState((INTENSITY, ANGLE), config)
    run_rule(state, np.random.default_rng(0), always(1.0), 30)
    again = AdrState.from_dict(state.params, config, json.loads(json.dumps(state.to_dict())))
    assert (again.low, again.high, again.buffers) == (state.low, state.high, state.buffers)


def test_switched_ranges_reach_the_draws_of_a_live_environment_without_a_new_one():
    from workbench.sim.env import GraspEnv

    base = load_profile("default")
    env = GraspEnv("bin_grasp", split="train", image_size=16, profile=base)
    try:
        env.reset(seed=0)
        image = env.randomization.randomizers["image"]
        env.randomization.set_profile(apply_ranges(base, (INTENSITY,), [(2.0, 2.0)]))
        _, info = env.reset(seed=1)
        lights = info["randomization"]["lighting"]["lights"].values()
        assert {light["intensity"] for light in lights} == {2.0}
        assert env.randomization.randomizers["image"] is image  # unchanged randomizers are kept
        with pytest.raises(ValueError, match="texture.color"):  # it fills the texture pool: fixed per model
            env.randomization.set_profile(set_path(base, "texture.color", {"low": 0.2, "high": 0.4}))
        with pytest.raises(ValueError, match="camera.enabled"):
            env.randomization.set_profile(set_path(base, "camera.enabled", False))
    finally:
        env.close()


def adr_file(path: Path, *, directory: Path, run: Path | str = "runs/main", episodes: int = 6, params: str | None = None,
             adr: str = "", base: str = "", buffer_size: int = 1, t_low: float = 0.5, t_high: float = 0.6) -> Path:
    path.write_text(f"""
[study]
name = "tiny-adr"
kind = "adr"
directory = "{directory}"

[adr]
episodes = {episodes}
boundary_fraction = 1.0
buffer_size = {buffer_size}
t_low = {t_low}
t_high = {t_high}
save_every = 2
{adr}

[base]
seed = 0
profile = "default"
run = "{run}"
{base}

{params or '''[[adr.params]]
path = "randomizers.lighting.intensity"
nominal = 1.0
delta = 0.1
limits = [0.2, 3.0]

[[adr.params]]
path = "randomizers.camera.fovy_offset_deg"
delta = 1.0
limits = [-10.0, 10.0]'''}
""")
    return path


def test_shipped_adr_study_loads():
    from studies.spec import load_study_file

    study = load_study_file(STUDIES / "adr.toml")
    assert study.kind == "adr" and study.file.adr.boundary_fraction == 0.5 and len(study.params) >= 6
    for param in study.params:  # every range starts at its nominal value, inside its limits
        assert param.limit_low <= param.nominal_low <= param.nominal_high <= param.limit_high


def test_nominal_defaults_to_the_base_profile_range(tmp_path):
    from studies.spec import load_study_file

    study = load_study_file(adr_file(tmp_path / "a.toml", directory=tmp_path / "a"))
    fovy = study.params[1]
    assert (fovy.nominal_low, fovy.nominal_high) == tuple(get_path(study.profile, "camera.fovy_offset_deg").values())


@pytest.mark.parametrize("change, words", [
    ({"adr": "t_lo = 0.9"}, ["adr.t_lo", "unknown key"]),
    ({"params": '[[adr.params]]\npath = "randomizers.lighting.intensity"\ndelta = -0.1\nlimits = [0.2, 3.0]'},
     ["adr.params.0.delta", "greater than 0"]),
    ({"params": '[[adr.params]]\npath = "randomizers.lighting.intensity"\ndelta = 0.1\nlimits = [1.5, 3.0]'},
     ["adr.params[0].limits", "nominal"]),
    ({"params": '[[adr.params]]\npath = "randomizers.lighting.intensity"\ndelta = 0.1\nlimits = [0.2, 9.0]'},
     ["adr.params[0].limits", "[0.2, 9.0]", "within [0.0, 5.0]"]),
    ({"params": '[[adr.params]]\npath = "randomizers.lighting.shadow_prob"\ndelta = 0.1\nlimits = [0.0, 1.0]'},
     ["adr.params[0].path", "not a {low, high} range"]),
    ({"params": '[[adr.params]]\npath = "randomizers.lighting.active_count"\ndelta = 1\nlimits = [1, 8]'},
     ["adr.params[0].path", "integer range"]),
    ({"params": '[[adr.params]]\npath = "randomizers.texture.color"\ndelta = 0.1\nlimits = [0.0, 1.0]'},
     ["adr.params[0].path", "texture pool"]),
    ({"params": '[[adr.params]]\npath = "lighting.intensity"\ndelta = 0.1\nlimits = [0.2, 3.0]'},
     ["adr.params[0].path", "randomizers.<path>"]),
    ({"params": '[[adr.params]]\npath = "randomizers.lighting.brightness"\ndelta = 0.1\nlimits = [0.2, 3.0]'},
     ["adr.params[0].path", "unknown path"]),
    ({"adr": "max_steps = 3"}, ["adr.max_steps", "unknown key"]),
    ({"base": 'cem = { sample = 64 }'}, ["base.cem.sample", "unknown key"]),
    ({"base": 'checkpoint = "x.safetensors"'}, ["base", "exactly one of run and checkpoint"]),
])
def test_bad_adr_section_exits_2_naming_the_field(tmp_path, capsys, change, words):
    path = adr_file(tmp_path / "bad.toml", directory=tmp_path / "bad", **change)
    assert cli.main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error
    for word in words:
        assert word in error, (word, error)
    assert not (tmp_path / "bad").exists()  # nothing written


@pytest.mark.parametrize("old, new, words", [
    ("t_low = 0.5", "t_low = 0.7", ["adr", "t_low (0.7) must be below t_high (0.6)"]),
    ("boundary_fraction = 1.0", "boundary_fraction = 0.0", ["adr.boundary_fraction = 0.0", "greater than 0"]),
    ("buffer_size = 1", "buffer_size = 0", ["adr.buffer_size = 0"]),
    ("episodes = 6", "episodes = 2.5", ["adr.episodes = 2.5"]),
])
def test_bad_adr_settings_exit_2_naming_the_field(tmp_path, capsys, old, new, words):
    path = adr_file(tmp_path / "t.toml", directory=tmp_path / "t")
    path.write_text(path.read_text().replace(old, new))
    assert cli.main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    for word in words:
        assert word in error, (word, error)


def test_missing_run_exits_2_naming_base_run(tmp_path, capsys):
    path = adr_file(tmp_path / "m.toml", directory=tmp_path / "m", run=tmp_path / "nowhere")
    assert cli.main(["study", "run", str(path)]) == 2
    assert "base.run: no checkpoint at" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.study_helpers import tiny_run

    return tiny_run(tmp_path_factory.mktemp("adr-run") / "run")


def test_tiny_adr_run_writes_a_loadable_profile_and_resumes_to_the_same_result(tiny, tmp_path, capsys):
    whole = adr_file(tmp_path / "whole.toml", directory=tmp_path / "whole", run=tiny, episodes=6)
    assert cli.main(["study", "run", str(whole), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes_done"] == 6 and summary["finished"]
    record = json.loads((tmp_path / "whole" / "adr.json").read_text())
    assert record["episodes_done"] == 6 and record["counts"]["boundary_episodes"] == 6  # boundary_fraction 1
    assert len(record["history"]) == 6  # buffer_size 1: every boundary episode is judged
    profile = load_profile(tmp_path / "whole" / "profile.toml")  # loads as a profile
    for path, bounds in record["final_ranges"].items():
        assert get_path(profile, path.removeprefix("randomizers.")) == bounds
    moved = [h for h in record["history"] if h["changed"]]
    for update in moved:  # each change is one delta, widen or narrow
        delta = 0.1 if "intensity" in update["path"] else 1.0
        assert math.isclose(abs(update["new"] - update["old"]), delta, abs_tol=1e-9)

    # the same study stopped after 3 episodes and resumed to 6 ends exactly where the whole run did
    half = adr_file(tmp_path / "half.toml", directory=tmp_path / "half", run=tiny, episodes=3)
    assert cli.main(["study", "run", str(half)]) == 0
    half.write_text(half.read_text().replace("episodes = 3", "episodes = 6"))
    assert cli.main(["study", "resume", str(half)]) == 0
    resumed = json.loads((tmp_path / "half" / "adr.json").read_text())
    for key in ("history", "final_ranges", "state", "rng", "counts"):
        assert resumed[key] == record[key], key
    assert sorted(p.name for p in (tmp_path / "half").iterdir()) == [  # no half-written files left
        "adr.json", "profile.toml", "study.json", "study.toml"]

    out = tmp_path / "chosen.toml"  # `study best` copies the profile, by study directory
    assert cli.main(["study", "best", str(tmp_path / "half"), "--out", str(out)]) == 0
    assert load_profile(out) == load_profile(tmp_path / "half" / "profile.toml")
    assert cli.main(["study", "status", str(tmp_path / "half")]) == 0
    assert "6 of 6 episodes" in capsys.readouterr().out

    changed = adr_file(tmp_path / "changed.toml", directory=tmp_path / "half", run=tiny, episodes=6,
                       adr="").read_text().replace("delta = 0.1", "delta = 0.2")
    (tmp_path / "changed.toml").write_text(changed)
    assert cli.main(["study", "run", str(tmp_path / "changed.toml")]) == 2  # other settings: not resumed
    assert "other ADR settings" in capsys.readouterr().err


def test_in_the_simulator_success_at_a_boundary_widens_it_by_delta(tmp_path):
    """The runner on real episodes: the scripted oracle (which grasps from true poses, whatever the image)
    keeps succeeding as the lighting range grows, so its boundaries widen, one delta per judged buffer."""
    from studies.adr_run import Acting, run_adr_study
    from studies.spec import load_study_file
    from workbench.sim.scripted import OraclePolicy

    path = adr_file(tmp_path / "o.toml", directory=tmp_path / "o", episodes=16, buffer_size=4, t_low=0.0,
                    t_high=0.3, params='''[[adr.params]]
path = "randomizers.lighting.intensity"
nominal = 1.0
delta = 0.1
limits = [0.2, 3.0]''')
    study = load_study_file(path)
    summary = run_adr_study(study, progress=False, acting=Acting(16, OraclePolicy))
    record = json.loads((tmp_path / "o" / "adr.json").read_text())
    waiting = sum(len(results) for results in record["state"]["buffers"].values())
    assert summary["episodes_done"] == 16 and 4 * len(record["history"]) + waiting == 16  # every episode pins one
    for update in record["history"]:
        assert update["action"] == "widen" if update["mean"] >= 0.3 else update["action"] != "widen"
        if update["action"] == "widen":
            assert math.isclose(update["new"] - update["old"], 0.1 if update["side"] == "high" else -0.1)
    assert any(update["action"] == "widen" for update in record["history"])
    low, high = record["final_ranges"]["randomizers.lighting.intensity"].values()
    assert get_path(load_profile(tmp_path / "o" / "profile.toml"), "lighting.intensity") == {"low": low, "high": high}
