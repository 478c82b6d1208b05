"""`workbench bench tuning`: the table, its paired difference, and a stopped comparison continuing."""

import json

import pytest

from studies.tuning_bench import TARGET, BenchPlan, TuningBench, build_table, parse_seeds
from workbench.errors import UserError
from workbench.evaluation.suites import SUITES

EPISODES = 20


def _record(profile: str, seed: int, successes: dict[str, list[int]]) -> dict:
    suites = {}
    for suite in SUITES:
        wins = successes.get(suite, [0] * EPISODES)
        outcomes = [{"reset_seed": 1000 + i, "object_ids": [i % 3], "success": bool(w)} for i, w in enumerate(wins)]
        suites[suite] = {"successes": sum(wins), "episodes": len(wins), "outcomes": outcomes}
    return {"profile": profile, "seed": seed, "split": "test", "suites": suites}


def test_the_tuned_profile_is_compared_with_the_best_hand_set_one_on_the_same_seeds_and_episodes():
    ones, half, quarter = [1] * EPISODES, [1, 0] * (EPISODES // 2), [1, 0, 0, 0] * (EPISODES // 4)
    results = {("none", s): _record("none", s, {TARGET: quarter}) for s in (0, 1)}
    results |= {("default", s): _record("default", s, {TARGET: half}) for s in (0, 1)}
    results |= {("study", s): _record("study", s, {TARGET: ones}) for s in (0, 1)}
    results[("adr", 0)] = _record("adr", 0, {TARGET: quarter})  # seed 1 not finished yet
    table = build_table(results, ["none", "default", "adr", "study"], [0, 1])

    assert table["best_hand_set"] == "default" and table["split"] == "test"
    assert table["rows"]["study"]["suites"][TARGET]["rate"] == 1.0
    study = table["paired"]["study"]
    assert study["against"] == "default" and study["episodes"] == 2 * EPISODES
    assert study["difference"] == pytest.approx(0.5) and study["low"] > 0
    adr = table["paired"]["adr"]  # only the seeds both finished are paired
    assert adr["seeds"] == [0] and adr["episodes"] == EPISODES and adr["difference"] == pytest.approx(-0.25)


def test_no_paired_difference_until_a_hand_set_profile_finished_every_seed():
    results = {("default", 0): _record("default", 0, {}), ("study", 0): _record("study", 0, {})}
    table = build_table(results, ["default", "study"], [0, 1])
    assert "best_hand_set" not in table and table["paired"] == {}
    assert table["rows"]["default"]["seeds"] == [0]


def test_a_finished_result_is_kept_and_other_settings_are_refused(tmp_path, monkeypatch):
    bench = TuningBench(tmp_path, [0], ["default"], BenchPlan(), 1.0)
    bench.out.mkdir(parents=True, exist_ok=True)
    bench._check_settings()
    (tmp_path / "results").mkdir()
    finished = _record("default", 0, {TARGET: [1] * EPISODES})
    (tmp_path / "results" / "default-seed-0.json").write_text(json.dumps(finished))

    from workbench.training import warm_start

    monkeypatch.setattr(warm_start, "finetune_from", lambda *a, **k: pytest.fail("a finished policy was retrained"))
    assert bench.final_policy("default", "default", 0) == finished
    assert bench.write_table()["rows"]["default"]["suites"][TARGET]["rate"] == 1.0
    assert json.loads((tmp_path / "tuning.json").read_text())["rows"]["default"]["seeds"] == [0]
    assert (tmp_path / "tuning.png").read_bytes().startswith(b"\x89PNG")  # the table as a chart

    other = TuningBench(tmp_path, [0, 1], ["default"], BenchPlan(), 1.0)
    with pytest.raises(UserError, match="other settings"):
        other._check_settings()


@pytest.mark.parametrize("text", ["", "0,0", "a,1"])
def test_bad_seeds_are_refused(text):
    with pytest.raises(UserError, match="--seeds"):
        parse_seeds(text)


def test_a_method_that_kept_a_hand_set_profiles_values_reuses_its_policy(tmp_path, monkeypatch):
    from randomizers.config import profile_path
    from workbench.training import warm_start

    bench = TuningBench(tmp_path, [0], ["default", "wide", "study"], BenchPlan(), 1.0)
    (tmp_path / "results").mkdir(parents=True)
    for name, wins in (("default", [1] * EPISODES), ("wide", [0] * EPISODES)):
        (tmp_path / "results" / f"{name}-seed-0.json").write_text(json.dumps(_record(name, 0, {TARGET: wins})))
    kept = tmp_path / "kept.toml"  # what `study best` writes when the default trial wins: other name, same ranges
    kept.write_text(profile_path("default").read_text().replace('name = "default"', 'name = "tune-trial-0"'))
    monkeypatch.setattr(warm_start, "finetune_from", lambda *a, **k: pytest.fail("the same policy was trained twice"))

    record = bench.final_policy("study", kept, 0)
    assert record["same_values_as"] == "default" and record["profile"] == "study"
    table = bench.write_table()
    assert table["rows"]["study"]["same_values_as"] == "default"
    assert table["paired"]["study"]["difference"] == 0.0


def test_a_gain_at_one_training_seed_and_a_loss_at_another_is_not_called_a_gain():
    ones, half, quarter = [1] * EPISODES, [1, 0] * (EPISODES // 2), [1, 0, 0, 0] * (EPISODES // 4)
    results = {("default", 0): _record("default", 0, {TARGET: half}),
               ("default", 1): _record("default", 1, {TARGET: half}),
               ("study", 0): _record("study", 0, {TARGET: ones}),  # +50 points at seed 0
               ("study", 1): _record("study", 1, {TARGET: quarter})}  # -25 points at seed 1
    study = build_table(results, ["default", "study"], [0, 1])["paired"]["study"]

    assert study["difference"] == pytest.approx(0.125)
    assert study["between_seeds"]["per_seed"] == pytest.approx([0.5, -0.25])
    assert study["between_seeds"]["difference"] == pytest.approx(0.125)
    # Two seeds that disagree: Student's t with one degree of freedom spans the whole range.
    assert study["between_seeds"]["low"] == -1.0 and study["between_seeds"]["high"] == 1.0
    assert study["between_seeds"]["low"] < study["low"] and study["between_seeds"]["high"] > study["high"]
