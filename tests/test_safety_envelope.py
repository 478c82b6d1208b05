"""A bundle cannot widen the robot's envelope, an edited manifest is refused, signatures are checked,
and a manifest cannot make loading or acting unbounded (issue 30, items 1, 2 and 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
from bundle_helpers import act_message_parts, make_run, rewrite_manifest

from policies.runtime.bundle import BundleError
from policies.runtime.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
HANG_LIMIT_S = 120  # a load that hangs (as before bounded work) fails the test instead of the run


def run_cli(*args, timeout=HANG_LIMIT_S) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": "egl"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)


def workbench(*args, timeout=HANG_LIMIT_S) -> subprocess.CompletedProcess:
    return run_cli("-m", "workbench.cli", *args, timeout=timeout)


def clean_refusal(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr[-2000:])


def widen(manifest: dict) -> None:
    manifest["safety"].update(workspace_low_m=[-100.0, -100.0, -100.0], workspace_high_m=[100.0, 100.0, 100.0],
                              max_translation_m=10.0)
    manifest["action"]["max_translation_m"] = 10.0


# -- item 1: the manifest is covered, and may only narrow the robot's envelope ---------------------------

def test_drive_refuses_a_widened_manifest_naming_the_field(bundle):
    rewrite_manifest(bundle, widen)
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1"), "manifest.json", "safety.workspace_high_m",
                  "edited after export")


def test_a_widened_manifest_with_a_recomputed_digest_is_refused_by_the_envelope(bundle):
    rewrite_manifest(bundle, widen, reseal=True)  # what a forger without the signing key can do
    with pytest.raises(BundleError) as caught:
        load_policy(bundle)
    message = str(caught.value)
    for field in ("safety.workspace_low_m", "safety.workspace_high_m", "safety.max_translation_m",
                  "action.max_translation_m"):
        assert field in message, message
    assert "only narrow" in message
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1"), "safety.workspace_high_m", "only narrow")


def test_the_policy_server_refuses_a_widened_manifest_with_exit_2(bundle):
    rewrite_manifest(bundle, widen, reseal=True)
    result = run_cli("-m", "policies.server", str(bundle), "--port", "0")
    clean_refusal(result, "safety.workspace_high_m")


def test_any_edit_of_the_manifest_is_refused_naming_the_field(bundle):
    rewrite_manifest(bundle, lambda m: m["cem"].update(samples=32))
    with pytest.raises(BundleError, match=r"cem\.samples was edited after export"):
        load_policy(bundle)
    result = run_cli("-m", "policies.server", str(bundle), "--port", "0")
    clean_refusal(result, "cem.samples", "edited after export")


def test_a_narrower_envelope_file_on_the_robot_side_refuses_the_bundle(bundle, tmp_path):
    envelope = tmp_path / "robot.toml"
    envelope.write_text("workspace_low_m = [-0.1, -0.1, 0.01]\nworkspace_high_m = [0.1, 0.1, 0.3]\n"
                        "max_translation_m = 0.05\nmax_rotation_rad = 0.5\nmax_rate_hz = 10.0\n"
                        "max_observation_age_s = 0.5\n")
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1", "--envelope", str(envelope)),
                  "safety.workspace_low_m", str(envelope))
    bad = tmp_path / "bad.toml"
    bad.write_text(envelope.read_text().replace("max_rate_hz = 10.0", "max_rate_hz = inf"))
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1", "--envelope", str(bad)), "max_rate_hz")


def test_signed_bundles_are_accepted_and_unsigned_or_wrongly_signed_ones_refused(bundle, tmp_path):
    key, other = tmp_path / "keys" / "robot", tmp_path / "keys" / "other"
    key.parent.mkdir()
    assert workbench("sign", "--new-key", str(key)).returncode == 0
    assert workbench("sign", "--new-key", str(other)).returncode == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    public = f"{key}.pub"
    with pytest.raises(BundleError, match="unsigned"):
        load_policy(bundle, require_signature=public)
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1", "--require-signature", public), "unsigned")
    clean_refusal(run_cli("-m", "policies.server", str(bundle), "--port", "0", "--require-signature", public),
                  "unsigned")

    assert workbench("sign", str(bundle), "--key", str(other)).returncode == 0
    with pytest.raises(BundleError, match="does not verify"):
        load_policy(bundle, require_signature=public)

    assert workbench("sign", str(bundle), "--key", str(key)).returncode == 0
    load_policy(bundle, require_signature=public)
    driven = workbench("drive", str(bundle), "--episodes", "1", "--require-signature", public, "--json")
    assert driven.returncode == 0, driven.stderr[-2000:]
    assert json.loads(driven.stdout.strip().splitlines()[-1])["episodes"] == 1

    # Signed, then edited and resealed: the signature no longer verifies.
    rewrite_manifest(bundle, lambda m: m["cem"].update(samples=32), reseal=True)
    with pytest.raises(BundleError, match="does not verify"):
        load_policy(bundle, require_signature=public)


def test_a_new_key_never_overwrites_one(tmp_path):
    key = tmp_path / "robot"
    assert workbench("sign", "--new-key", str(key)).returncode == 0
    before = key.read_bytes()
    clean_refusal(workbench("sign", "--new-key", str(key)), "already exists")
    assert key.read_bytes() == before


# -- item 2: bounded work at load -------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field, limit", [
    ({"iterations": 10**12}, "cem.iterations", "over the limit 10"),
    ({"samples": 10**8}, "cem.samples", "over the limit 1024"),
    ({"iterations": 5, "samples": 1000}, "cem.samples", "over the limit 4096")])
def test_cem_settings_beyond_the_latency_budget_are_refused_at_once(bundle, changes, field, limit):
    rewrite_manifest(bundle, lambda m: m["cem"].update(changes), reseal=False)
    started = time.monotonic()
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1"), field, limit)
    clean_refusal(run_cli("-m", "policies.server", str(bundle), "--port", "0"), field, limit)
    assert time.monotonic() - started < HANG_LIMIT_S


def test_image_size_beyond_the_limit_is_refused(bundle):
    rewrite_manifest(bundle, lambda m: (m["model"].update(image_size=100000),
                                        m["observation"]["image"].update(height=100000, width=100000)))
    with pytest.raises(BundleError, match=r"model\.image_size = 100000: over the limit 1024"):
        load_policy(bundle)


# -- item 4: manifests and flags that gave tracebacks ---------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ('{"a": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested too deeply"),
    ('{"format": "workbench-policy-bundle", "schema_version": 1, "n": ' + "9" * 5000 + "}", "digits"),
], ids=["nested-200k-deep", "5000-digit-integer"])
def test_a_hostile_manifest_text_is_refused_with_exit_2(bundle, text, reason):
    (bundle / "manifest.json").write_text(text)
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1"), "manifest.json", reason)


@pytest.mark.parametrize("change", [lambda m: m.pop("training"), lambda m: m.update(training=[1, 2]),
                                   lambda m: m["training"].update(scene_spec="bin_grasp")],
                         ids=["missing", "a-list", "scene-spec-a-string"])
def test_a_manifest_without_a_usable_training_section_is_refused_with_exit_2(bundle, change):
    rewrite_manifest(bundle, change, reseal=True)
    clean_refusal(workbench("drive", str(bundle), "--episodes", "1"), "training")


def test_export_of_a_checkpoint_with_nan_weights_exits_2(tmp_path):
    import torch

    from policies.qtopt.checkpoint import learner_from_checkpoint, save_checkpoint

    run = make_run(tmp_path / "run")
    learner, info = learner_from_checkpoint(run / "checkpoint.safetensors")
    with torch.no_grad():
        next(learner.policy_net.parameters()).fill_(float("nan"))
    save_checkpoint(run / "checkpoint.safetensors", learner, info.config)
    clean_refusal(workbench("export", str(run), "--out", str(tmp_path / "bundle")), "NaN")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1"])
def test_serve_refuses_a_request_limit_that_is_not_a_finite_positive_size(pristine, value):
    clean_refusal(workbench("serve", str(pristine), "--port", "0", "--max-request-mb", value), "--max-request-mb")


def test_an_empty_image_on_the_wire_is_a_bad_observation(pristine):
    from websockets.sync.client import connect

    from policies.runtime.bundle import open_bundle
    from policies.runtime.server import ServerThread

    opened = open_bundle(pristine)
    with ServerThread(pristine) as server:
        with connect(server.url, open_timeout=5, compression=None, proxy=None) as connection:
            assert msgpack.unpackb(connection.recv(timeout=5))["type"] == "metadata"
            for shape in [(0, 0, 3), (8, 8, 3)]:
                connection.send(msgpack.packb(act_message_parts(opened, np.zeros(shape, np.uint8))))
                reply = msgpack.unpackb(connection.recv(timeout=5))
                assert reply["type"] == "error" and reply["code"] == "bad_observation", reply
