"""The policy server: metadata on connect, health, actions identical to the local runtime."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from bundle_helpers import export, make_run, observation
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from policies.runtime.client import PolicyClient, RemoteError, health
from policies.runtime.policy import load_policy
from policies.runtime.server import PolicyServer, ServerLimits, ServerThread


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    return export(make_run(root / "run"), root / "bundle")


@pytest.fixture(scope="module")
def server(bundle_path):
    with ServerThread(bundle_path, limits=ServerLimits(max_connections=2)) as running:
        yield running


def fresh(bundle, image=None) -> dict:
    return observation(bundle, image=image, timestamp=time.monotonic())


def test_binds_to_localhost_by_default(bundle_path):
    assert PolicyServer(bundle_path, port=0).host == "127.0.0.1"
    from workbench.cli import build_parser

    assert build_parser().parse_args(["serve", "b"]).host == "127.0.0.1"


def test_metadata_on_connect_and_health(server):
    with PolicyClient(server.url) as client:
        meta = client.metadata
        assert meta["protocol"] == 1 and meta["bundle"] == server.server.bundle.fingerprint
        for section in ("observation", "action", "safety", "control", "cem", "model", "limits"):
            assert section in meta
        assert meta["observation"]["image"]["height"] == 64
        status = health(server.url)
        assert status["status"] == "ok" and status["connections"] == 1
        assert client.ping() < 1.0
        assert client.request({"type": "metadata"})["bundle"] == meta["bundle"]


def test_remote_actions_equal_local_ones(server, bundle_path):
    local = load_policy(bundle_path)
    rng = np.random.default_rng(3)
    with PolicyClient(server.url) as client:
        for episode in range(3):
            local.reset([1000, episode, 1])
            client.reset([1000, episode, 1])
            for _ in range(3):
                image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)  # resized on the server
                obs = fresh(local.bundle, image)
                remote = client.act(obs, now=obs["timestamp"])  # no wall-clock age: a loaded machine
                mine = local.act(obs, now=obs["timestamp"])     # cannot make one side stop
                np.testing.assert_array_equal(remote.policy_action, mine.policy_action)
                np.testing.assert_allclose(remote.translation, mine.translation)
                assert (remote.gripper, remote.terminate, remote.stop) == (mine.gripper, mine.terminate, mine.stop)


def test_the_watchdog_works_through_the_server(server, bundle_path):
    bundle = load_policy(bundle_path).bundle
    with PolicyClient(server.url) as client:
        client.reset(0)
        stale = observation(bundle, timestamp=time.monotonic() - 5.0)
        action = client.act(stale)
        assert action.stop and "stale" in action.reason
        with pytest.raises(RemoteError, match="bad_observation"):
            client.act(fresh(bundle, np.zeros((8, 8, 3), np.uint8)))
        obs = fresh(bundle)
        assert not client.act(obs, now=obs["timestamp"]).stop  # the connection still serves


def test_other_paths_and_too_many_clients_are_refused(server):
    base = server.url.replace("ws://", "http://").rstrip("/")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(base + "/nothing", timeout=5)
    assert caught.value.code == 404
    first, second = PolicyClient(server.url), PolicyClient(server.url)
    first.connect()
    second.connect()
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(server.url, open_timeout=5, proxy=None)
        assert refused.value.response.status_code == 503
    finally:
        first.close()
        second.close()
    time.sleep(0.05)
    assert json.loads(json.dumps(health(server.url)))["connections"] == 0


def test_the_server_command_prints_its_address_and_serves(bundle_path):
    """`python -m policies.server` (what `workbench serve` runs, without the training stack)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen([sys.executable, "-m", "policies.server", str(bundle_path), "--port", "0",
                                "--crop", "0,0,64,64"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=root)
    try:
        line = process.stdout.readline()
        assert line.startswith(f"serving {bundle_path} on ws://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" on ", 1)[1].split()[0]
        assert health(url)["status"] == "ok"
        with PolicyClient(url) as client:
            assert client.metadata["frames"]["crop"]["height"] == 64
    finally:
        process.terminate()
        process.wait(10)


def test_serve_command_refuses_bad_options(bundle_path, capsys):
    from workbench.cli import main

    assert main(["serve", str(bundle_path), "--crop", "1,2,3"]) == 2
    assert "--crop" in capsys.readouterr().err
    assert main(["serve", str(bundle_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_a_server_with_a_crop_and_bgr_frames_acts_like_the_same_local_policy(bundle_path):
    from policies.runtime.preprocess import CropBox

    crop = CropBox(10, 20, 90, 90)
    local = load_policy(bundle_path, crop=crop, channel_order="BGR")
    frame = np.random.default_rng(4).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    with ServerThread(bundle_path, crop=crop, channel_order="BGR") as server, PolicyClient(server.url) as client:
        assert client.metadata["frames"] == {"channel_order": "BGR", "crop": {"top": 10, "left": 20, "height": 90,
                                                                             "width": 90}}
        local.reset(7)
        client.reset(7)
        obs = fresh(local.bundle, frame)
        remote = client.act(obs, now=obs["timestamp"])
        np.testing.assert_array_equal(remote.policy_action, local.act(obs, now=obs["timestamp"]).policy_action)
