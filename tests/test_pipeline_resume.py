"""A training run killed with SIGKILL resumes from its checkpoint with every episode it collected."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from policies.qtopt.checkpoint import learner_from_checkpoint
from policies.qtopt.replay import OfflineStore, read_episode
from workbench import cli
from workbench.rollout.collect import collect

# Finetuning from the second step, one on-policy episode per step, checkpoints every 3 steps.
LONG = """
offline_steps = 2
finetune_steps = 100000
steps_per_episode = 1
checkpoint_every = 3
log_every = 3
[qtopt]
batch_size = 8
[qtopt.cem]
iterations = 1
samples = 16
elites = 2
[qtopt.act_cem]
iterations = 1
samples = 16
elites = 2
"""
REPO = Path(__file__).resolve().parents[1]


def wait_for(condition, process, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, "training exited early:\n" + process.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the training run")


def test_sigkill_then_resume_keeps_data_and_checkpoint(tmp_path):
    run = tmp_path / "run"
    collect(run / "offline", episodes=3, seed=1, progress=False)
    config = tmp_path / "long.toml"
    config.write_text(LONG)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-m", "workbench.cli", "train", "--run", str(run), "--config",
                                str(config)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    online = OfflineStore(run / "online")
    try:
        wait_for(lambda: (run / "checkpoint.safetensors").exists() and len(online) >= 5, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    kept = {p.name for p in online.paths()}
    _, before = learner_from_checkpoint(run / "checkpoint.safetensors")  # intact despite the kill
    assert before.learner_step >= 3 and before.learner_step % 3 == 0

    assert cli.main(["train", "--run", str(run), "--resume", "--minutes", "0.1"]) == 0
    _, after = learner_from_checkpoint(run / "checkpoint.safetensors")
    assert after.learner_step > before.learner_step
    names = {p.name for p in online.paths()}
    assert kept < names  # everything collected before the kill is still there, plus new episodes
    for path in online.paths():
        read_episode(path)
    indices = sorted(int(name.split("-")[1].split(".")[0]) for name in names)
    assert indices == list(range(len(indices)))  # numbering continued: no gaps, no overwrites
