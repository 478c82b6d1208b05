"""`--backend ray` on the command line: clear errors (exit 2) for a bad --address, a missing Ray and
Ray-only flags without --backend ray; all before any cluster starts or any episode is written."""

import sys

import pytest

from workbench import cli


def run(capsys, *argv) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("address", ["not an address", "http://host:6379", "host:port"])
def test_malformed_address_exits_2(tmp_path, capsys, address):
    pytest.importorskip("ray")
    code, err = run(capsys, "collect", "--backend", "ray", "--address", address, "--episodes", "1",
                    "--out", str(tmp_path / "o"))
    assert code == 2 and "expected auto, HOST:PORT" in err
    assert not (tmp_path / "o").exists()


def test_address_where_no_cluster_listens_exits_2_quickly(tmp_path, capsys):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as probe:  # a free port: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "run" / "offline").mkdir(parents=True)
    code, err = run(capsys, "train", "--run", str(tmp_path / "run"), "--backend", "ray", "--address",
                    f"127.0.0.1:{port}")
    assert code == 2 and f"--address 127.0.0.1:{port}: no Ray cluster answers there" in err


def test_missing_ray_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, err = run(capsys, "collect", "--backend", "ray", "--episodes", "1", "--out", str(tmp_path / "o"))
    assert code == 2 and "pip install -e '.[ray]'" in err


def test_ray_flags_need_backend_ray(tmp_path, capsys):
    code, err = run(capsys, "train", "--run", str(tmp_path), "--address", "auto", "--updaters", "2")
    assert code == 2 and "--address, --updaters need(s) --backend ray" in err
    code, err = run(capsys, "collect", "--episodes", "1", "--out", str(tmp_path / "o"), "--workers", "2")
    assert code == 2 and "--workers need(s) --backend ray" in err
