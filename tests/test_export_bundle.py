"""`workbench export`: the bundle's contents, ONNX/torch parity and CEM parity."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import safetensors.numpy
import torch
from bundle_helpers import export, make_run

from policies.qtopt.action_selection import cem_select
from policies.qtopt.qnet import build_qnet
from policies.runtime.bundle import SCHEMA_VERSION, open_bundle
from policies.runtime.policy import load_policy
from policies.runtime.spec import ActionSpec
from workbench.deploy.export import random_actions, random_observations, torch_logits


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    made = {}
    for arch in ("fast", "paper"):
        run = make_run(root / f"run-{arch}", arch=arch, seed=3)
        (run / "eval_test.json").write_text(json.dumps({"policy": str(run), "rate": 0.25, "episodes": 8}))
        (run / "reports" / "eval-unseen-objects").mkdir(parents=True)
        (run / "reports" / "eval-unseen-objects" / "report.json").write_text(json.dumps({"suites": {"x": 1}}))
        made[arch] = (run, export(run, root / f"bundle-{arch}"))
    return made


def test_bundle_holds_the_files_and_a_checksum_for_each(runs):
    _, bundle = runs["fast"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    names = sorted(p.name for p in bundle.iterdir())
    assert names == ["golden.safetensors", "manifest.json", "qnet.onnx", "weights.safetensors"]
    for name, entry in manifest["files"].items():
        data = (bundle / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_manifest_records_provenance_specs_and_limits(runs):
    _, bundle = runs["fast"]
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["schema_version"] == SCHEMA_VERSION and m["format"] == "workbench-policy-bundle"
    assert m["workbench"]["version"] and "git_revision" in m["workbench"] and m["created"].endswith("+00:00")
    assert m["source"]["seed"] == 3 and m["source"]["config"]["qtopt"]["arch"] == "fast"
    assert m["training"]["scene"] == "bin_grasp" and m["training"]["profile"] == "none"
    assert m["training"]["scene_spec"]["camera"]["width"] == 64
    assert m["evaluation"][0]["file"] == "eval_test.json" and m["evaluation"][0]["rate"] == 0.25
    assert m["evaluation"][1] == {"file": "reports/eval-unseen-objects/report.json", "suites": {"x": 1}}
    assert m["model"]["onnx"]["opset"] == 17
    image = m["observation"]["image"]
    assert (image["height"], image["width"], image["channel_order"], image["dtype"]) == (64, 64, "RGB", "uint8")
    camera = m["observation"]["camera"]
    fovy = math.radians(camera["fovy_deg"])
    assert camera["intrinsics"]["fy"] == pytest.approx(32 / math.tan(fovy / 2))
    # bin_grasp's wrist camera is posed in the hand frame it rides in.
    assert camera["extrinsics"]["frame"] == "hand"
    assert camera["extrinsics"]["pos_m"] == pytest.approx([-0.07, 0.0, 0.13])
    pose = np.array(camera["extrinsics"]["frame_from_camera_opencv"])
    forward = pose[:3, 2]  # the OpenCV optical axis points at the lookat point
    to_lookat = np.subtract(camera["extrinsics"]["lookat_m"], pose[:3, 3])
    assert forward @ to_lookat / np.linalg.norm(to_lookat) == pytest.approx(1.0)
    assert m["action"]["max_translation_m"] == 0.05 and len(m["action"]["dims"]) == 8
    # The bundle acts as the run acts: with its acting CEM (make_run: 2 x 64, 6), not its Bellman one (1 x 32).
    assert (m["cem"]["iterations"], m["cem"]["samples"], m["cem"]["elites"]) == (2, 64, 6)
    assert m["control"]["rate_hz"] == pytest.approx(10.0)
    safety = m["safety"]
    assert np.all(np.less(safety["workspace_low_m"], safety["workspace_high_m"]))
    assert safety["max_observation_age_s"] == pytest.approx(0.2)


def test_weights_load_into_a_fresh_network(runs):
    _, bundle = runs["paper"]
    tensors = safetensors.numpy.load_file(str(bundle / "weights.safetensors"))
    qnet = build_qnet("paper", 64)
    qnet.load_state_dict({name: torch.from_numpy(value) for name, value in tensors.items()})
    golden = safetensors.numpy.load_file(str(bundle / "golden.safetensors"))
    logits = torch_logits(qnet.eval(), golden["image"], golden["state"], golden["actions"])
    np.testing.assert_allclose(logits, golden["logits"], atol=1e-6)


def test_bundle_and_eval_act_with_the_polyak_average_not_the_online_network(tmp_path):
    from policies.qtopt.batches import random_transitions
    from policies.qtopt.checkpoint import learner_from_checkpoint, save_checkpoint
    from workbench.rollout.qtopt_policy import load_run_policy

    run = make_run(tmp_path / "run", seed=4)
    learner, info = learner_from_checkpoint(run / "checkpoint.safetensors")
    rng = np.random.default_rng(0)
    updater = learner.bellman_updater(info.config)
    for _ in range(3):  # a few steps: the online network moves ahead of its Polyak average
        learner.train_step(updater.label(random_transitions(8, 64, rng), rng))
    save_checkpoint(run / "checkpoint.safetensors", learner, info.config)
    bundle = export(run, tmp_path / "bundle")

    online, polyak = learner.qnet.state_dict(), learner.targets.polyak.state_dict()
    assert any(not torch.equal(online[k], polyak[k]) for k in online)
    exported = safetensors.numpy.load_file(str(bundle / "weights.safetensors"))
    evaluated = load_run_policy(run).qnet.state_dict()
    for name, value in polyak.items():
        np.testing.assert_array_equal(exported[name], value.numpy())
        assert torch.equal(evaluated[name], value)


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_onnx_q_values_match_torch_on_1000_random_observations(runs, arch):
    from policies.qtopt.checkpoint import learner_from_checkpoint

    run, bundle = runs[arch]
    torch.set_num_threads(1)
    qnet = learner_from_checkpoint(run / "checkpoint.safetensors")[0].policy_net.eval()
    policy = load_policy(bundle)
    rng = np.random.default_rng(11)
    worst = 0.0
    for _ in range(10):  # 10 x 100 observations, 4 actions each
        image, state = random_observations(rng, 100, 64)
        actions = random_actions(rng, (100, 4), ActionSpec())
        expected = torch_logits(qnet, image, state, actions)
        got = policy.qfunction.logits(image, state, actions)
        worst = max(worst, float(np.max(np.abs(got - expected))))
        q_error = np.abs(1 / (1 + np.exp(-got)) - 1 / (1 + np.exp(-expected)))
        assert q_error.max() < 1e-4
    assert worst < 1e-4


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_runtime_cem_picks_the_training_codes_action(runs, arch):
    from policies.qtopt.checkpoint import learner_from_checkpoint

    run, bundle = runs[arch]
    qnet = learner_from_checkpoint(run / "checkpoint.safetensors")[0].policy_net.eval()
    policy = load_policy(bundle)
    cem = policy.cem
    observations = np.random.default_rng(5)
    for seed in range(10):
        image, state = random_observations(observations, 2, 64)
        expected = cem_select(qnet, image, state, cem, np.random.default_rng(seed), ActionSpec())
        got = policy.select(image, state, np.random.default_rng(seed))
        np.testing.assert_array_equal(got.actions, expected.actions)
        np.testing.assert_allclose(got.scores, expected.scores, atol=1e-4)


def test_export_refuses_to_overwrite_unless_forced(runs, tmp_path):
    from workbench.deploy.export import export_run
    from workbench.errors import UserError

    run, _ = runs["fast"]
    out = tmp_path / "bundle"
    export_run(run, out)
    first = (out / "manifest.json").read_bytes()
    with pytest.raises(UserError, match="already exists"):
        export_run(run, out)
    export_run(run, out, force=True, seed=9)
    assert (out / "manifest.json").read_bytes() != first
    bundle = open_bundle(out)
    assert bundle.latency_budget_ms is None and bundle.measured_latency_ms is None  # no CEM choice: none recorded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_export_command_and_its_errors(runs, tmp_path, capsys):
    from workbench.cli import main

    run, _ = runs["fast"]
    assert main(["export", str(run), "--out", str(tmp_path / "b"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["arch"] == "fast" and summary["learner_step"] == 0
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "c")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
