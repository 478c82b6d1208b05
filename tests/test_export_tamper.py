"""A damaged bundle is refused with an error naming the file and the reason."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import safetensors.numpy
from bundle_helpers import rewrite_manifest

from policies.runtime.bundle import BundleError, open_bundle
from policies.runtime.policy import load_policy


def refused(bundle, file_name: str, reason: str) -> BundleError:
    with pytest.raises(BundleError) as caught:
        load_policy(bundle)
    error = caught.value
    assert error.path.endswith(file_name), error
    assert reason in error.problem, error
    return error


def test_the_pristine_bundle_loads(bundle):
    load_policy(bundle)


def test_one_byte_changed_in_the_onnx_file(bundle):
    data = bytearray((bundle / "qnet.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / "qnet.onnx").write_bytes(bytes(data))
    refused(bundle, "qnet.onnx", "SHA-256 does not match")


def test_a_newer_schema_version(bundle):
    rewrite_manifest(bundle, lambda m: m.update(schema_version=m["schema_version"] + 1))
    error = refused(bundle, "manifest.json", "newer than this runtime reads")
    assert "update the runtime" in str(error)


@pytest.mark.parametrize("name", ["qnet.onnx", "golden.safetensors", "weights.safetensors"])
def test_a_missing_file(bundle, name):
    (bundle / name).unlink()
    refused(bundle, name, "missing")


def test_a_missing_manifest(bundle):
    (bundle / "manifest.json").unlink()
    refused(bundle, "manifest.json", "missing")


def test_a_manifest_that_is_not_json(bundle):
    (bundle / "manifest.json").write_text('{"schema_version": 1,')
    refused(bundle, "manifest.json", "not valid JSON")


def test_a_manifest_missing_a_field(bundle):
    rewrite_manifest(bundle, lambda m: m["safety"].pop("max_translation_m"))
    refused(bundle, "manifest.json", "safety.max_translation_m is missing")


def test_a_manifest_with_a_bad_limit(bundle):
    rewrite_manifest(bundle, lambda m: m["safety"].update(workspace_low_m=[0, 0, 1], workspace_high_m=[1, 1, 0]))
    refused(bundle, "manifest.json", "must be below")


def test_a_cut_file(bundle):
    data = (bundle / "weights.safetensors").read_bytes()
    (bundle / "weights.safetensors").write_bytes(data[:-10])
    refused(bundle, "weights.safetensors", "bytes, the manifest says")


def test_an_unlisted_file(bundle):
    (bundle / "notes.txt").write_text("hello")
    refused(bundle, "notes.txt", "not listed")


def test_a_file_name_escaping_the_bundle(bundle):
    rewrite_manifest(bundle, lambda m: m["files"].update({"../x": {"sha256": "0" * 64, "bytes": 1}}))
    refused(bundle, "manifest.json", "not a plain file name")


def test_golden_vectors_that_the_network_does_not_reproduce(bundle):
    golden = dict(safetensors.numpy.load_file(str(bundle / "golden.safetensors")))
    golden["logits"] = golden["logits"] + np.float32(0.01)
    data = safetensors.numpy.save(golden)
    (bundle / "golden.safetensors").write_bytes(data)
    rewrite_manifest(bundle, lambda m: m["files"]["golden.safetensors"].update(
        sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)), reseal=True)
    refused(bundle, "qnet.onnx", "golden inputs differ")


def test_a_golden_cem_action_that_is_not_reproduced(bundle):
    golden = dict(safetensors.numpy.load_file(str(bundle / "golden.safetensors")))
    golden["cem_action"] = golden["cem_action"] + np.float32(0.001)
    data = safetensors.numpy.save(golden)
    (bundle / "golden.safetensors").write_bytes(data)
    rewrite_manifest(bundle, lambda m: m["files"]["golden.safetensors"].update(
        sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)), reseal=True)
    refused(bundle, "golden.safetensors", "CEM with seed")


def test_not_a_directory(tmp_path):
    with pytest.raises(BundleError, match="not a bundle directory"):
        open_bundle(tmp_path / "nothing")


@pytest.mark.parametrize("command", ["serve", "drive"])
def test_commands_refuse_a_tampered_bundle_with_exit_2(bundle, capsys, command):
    from workbench.cli import main

    data = bytearray((bundle / "qnet.onnx").read_bytes())
    data[100] ^= 0xFF
    (bundle / "qnet.onnx").write_bytes(bytes(data))
    assert main([command, str(bundle), "--port", "0"] if command == "serve" else [command, str(bundle)]) == 2
    err = capsys.readouterr().err
    assert "qnet.onnx" in err and "SHA-256" in err
    assert json.loads((bundle / "manifest.json").read_text())  # the bundle itself is untouched
