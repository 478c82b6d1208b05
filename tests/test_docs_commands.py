"""Every command in the docs runs as written.

The fenced ```bash blocks of README.md and docs/*.md are split into commands
(`\\` continuations joined, `# comments` dropped, `&&` chains split). Each
`workbench` command must parse with the real parser (`workbench.cli.build_parser`):
its subcommand and every option it uses exist. A command runs, exactly as
written, in a temporary directory holding copies of the files the docs name
(`examples/`, `studies/*.toml`, `docs/*.md`), unless `NOT_RUN` lists it with the
reason; the blocks of one document run in order in one directory, so a command
can use what an earlier one wrote.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN_TIMEOUT_S = 300  # a guard against hangs; each runs in seconds on an idle machine

_TRAINING = "trains QT-Opt: minutes to hours"
_RUN = "needs a trained run directory (runs/NAME, runs/main) from a long training"
_BUNDLE = "needs a bundle exported from a trained run"
_SERVER = "a server: runs until stopped"
_STUDY = "runs or reads a study whose trials train QT-Opt (minutes to hours)"
_CLUSTER = "starts, joins or uses a Ray cluster of several machines (HEAD_IP, TOKEN stand for yours)"
_POSTGRES = "needs a PostgreSQL server; PASSWORD and DBHOST stand for yours"
_CELL = "my_cell.toml, robot_data and robot.toml stand for the reader's own scene, robot data and envelope"

# Commands the test does not execute, by their text as written (comments dropped, whitespace
# collapsed, quotes removed); `workbench` ones are still parsed by the real parser.
NOT_RUN = {
    # README.md: prerequisites and set-up
    "sudo apt-get install -y --no-install-recommends libegl1 libegl-mesa0 libgl1-mesa-dri":
        "installs system packages",
    "pip install torch==2.13.0": "installs packages",
    "pip install -e .": "installs packages",
    "pip install -e .[dev]": "installs packages",
    "workbench run": "the main job: about 25 minutes",
    "python -m pytest -q": "the whole test suite, this test included",
    "lint-imports": "the import contracts; tests/test_architecture.py runs it",
    # README.md: commands
    "workbench run --name long --budget 2": "the main job at twice its budget: about 50 minutes",
    "workbench report runs/main": "needs the run directory the main job writes",
    "workbench eval --policy oracle --episodes 200 --json": "200 episodes: about 30 s",
    "workbench eval --policy explorer --episodes 200 --json": "200 episodes: about 30 s",
    "workbench randomize validate my_profile.toml": "my_profile.toml stands for the reader's own profile file",
    "workbench eval --policy oracle --profile wide --episodes 100": "100 randomized episodes: about 20 s",
    "workbench eval --compare oracle explorer --episodes 100":
        "two policies on 100 episodes each: about 90 s (tests/test_eval_paired.py runs --compare)",
    "workbench collect --scene bin_grasp --profile default --episodes 3000 --out runs/NAME/offline":
        "3000 episodes: about 10 minutes",
    "workbench train --run runs/NAME --minutes 60": _TRAINING,
    "workbench train --run runs/NAME --resume": _TRAINING,
    "workbench eval --policy runs/NAME --profile default --episodes 200": _RUN,
    "tensorboard --logdir runs/NAME/tensorboard": _SERVER,
    "workbench eval --policy runs/NAME --suite all --episodes 200 --json": _RUN,
    "workbench data export-sim --out data/proxy-real --suite proxy-real --images 200 --episodes 50":
        "renders 200 images and 50 episodes: about a minute",
    "workbench data validate data/proxy-real": "reads the output of the export-sim command before it",
    "workbench transfer --policy runs/none --policy runs/wide --real data/proxy-real --report reports/none-vs-wide "
    "--json": _RUN,
    "workbench export runs/NAME --out bundles/NAME": _RUN,
    "workbench drive bundles/NAME --episodes 200 --compare-run runs/NAME": _BUNDLE,
    "workbench serve bundles/NAME --port 8765": _SERVER,
    "python -m policies.server bundles/NAME": _SERVER,
    "workbench sign bundles/NAME --key keys/lab": _BUNDLE,
    "workbench drive bundles/NAME --require-signature keys/lab.pub --envelope robot.toml":
        _BUNDLE + " and the robot's envelope file",
    "workbench study run studies/quick.toml": _STUDY,
    "workbench study status quick": _STUDY,
    "workbench study resume quick": _STUDY,
    "workbench study report quick": _STUDY,
    "workbench study best quick --out runs/quick/best/profile.toml": _STUDY,
    "workbench study run studies/randomization.toml --workers 2 --storage journal:runs/randomization/journal.log":
        _STUDY,
    "workbench study run studies/randomization.toml --storage postgresql://USER:PASSWORD@HOST/studies":
        "needs a PostgreSQL server; USER, PASSWORD and HOST stand for yours",
    "workbench collect --out runs/tuned/offline --profile runs/quick/best/profile.toml --episodes 200":
        "needs the profile `study best` writes after a study",
    "workbench train --run runs/tuned --config runs/quick/best/profile.train.toml": _TRAINING,
    "workbench study best cem --objective latency_ms --require success>=0.35 --out cem-best.toml": _STUDY,
    "workbench study best cem --trial 2 --out cem-best.toml": _STUDY,
    "workbench train --run runs/NAME --config cem-best.toml": _TRAINING,
    "workbench bench env --json": "benchmark: about 25 s",
    "workbench bench env --scene bin_grasp_jaco --compare bin_grasp --json": "benchmark of two scenes: about a minute",
    "workbench bench randomize --json": "benchmark pinned to one core",
    "workbench bench cem --json": "benchmark pinned to one core",
    "workbench bench train --json": "benchmark: about a minute",
    "workbench bench train --profile": "benchmark: about 10 s",
    "workbench bench runtime --json": "benchmark: about 20 s, exports a bundle first",
    "workbench bench learn --minutes 60 --json": "an hour of training",
    "workbench bench scale --json": "benchmark: about two minutes, starts a Ray cluster",
    "workbench bench backends --json": "trains QT-Opt twice, with each backend: hours",
    "workbench bench tuning --seeds 0,1,2": "trains six profiles at three seeds each: about 80 minutes",
    # docs/several-machines.md (README.md repeats its first two commands)
    "workbench collect --backend ray --out runs/NAME/offline --episodes 3000": "3000 episodes: minutes",
    "workbench train --backend ray --run runs/NAME --minutes 60 --collectors 1 --updaters 1": _TRAINING,
    "pip install -e .[ray]": "installs packages",
    "ray start --head --port=6379": _CLUSTER,
    "ray get-auth-token": _CLUSTER,
    "export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=TOKEN": _CLUSTER,
    "ray start --address=HEAD_IP:6379": _CLUSTER,
    "workbench collect --backend ray --address auto --out runs/big/offline --episodes 100000": _CLUSTER,
    "workbench train --backend ray --address auto --run runs/big --collectors 16 --updaters 8 --minutes 600":
        _CLUSTER,
    "workbench eval --policy runs/big --episodes 200": _RUN,
    "ray stop": _CLUSTER,
    "sudo -u postgres psql -c CREATE ROLE workbench LOGIN PASSWORD 'PASSWORD'": _POSTGRES,
    "sudo -u postgres createdb -O workbench studies": _POSTGRES,
    "pip install -e .[postgres]": "installs packages",
    "workbench study run studies/randomization.toml --workers 2": _STUDY,
    "workbench study status randomization --storage "
    "postgresql+psycopg2://workbench:PASSWORD@DBHOST:5432/studies": _POSTGRES,
    "workbench study report randomization --storage "
    "postgresql+psycopg2://workbench:PASSWORD@DBHOST:5432/studies": _POSTGRES,
    # docs/evaluation-and-transfer.md
    "workbench eval --policy oracle --suite all --episodes 100 --json": "6 suites x 100 episodes: minutes",
    "workbench eval --policy runs/wide --suite all --episodes 200 --json": _RUN,
    "workbench eval --policy runs/wide --suite proxy-real --episodes 200 --report reports/wide-proxy": _RUN,
    "workbench transfer --policy runs/none --policy runs/wide --real data/proxy-real --suite proxy-real "
    "--episodes 200 --report reports/none-vs-wide --json": _RUN,
    # docs/hardware.md
    "workbench export runs/main --out bundles/main": _RUN,
    "workbench drive bundles/main --episodes 200": _BUNDLE,
    "workbench drive bundles/main --episodes 200 --compare-run runs/main": _BUNDLE,
    "workbench drive bundles/main --episodes 50 --camera-size 256": _BUNDLE,
    "workbench serve bundles/main": _SERVER,
    "workbench drive bundles/main --episodes 50 --server ws://127.0.0.1:8765/": _BUNDLE + " and a running server",
    "workbench serve bundles/main --host 0.0.0.0 --crop 43,283,714,714 --channel-order BGR": _SERVER,
    "workbench sign bundles/main --key keys/lab": _BUNDLE,
    "workbench drive bundles/main --episodes 200 --require-signature keys/lab.pub": _BUNDLE,
    "python -m policies.server bundles/main --require-signature keys/lab.pub": _SERVER,
    # docs/studies.md
    "workbench study run studies/quick.toml --workers 2 --storage journal:runs/quick/journal.log": _STUDY,
    "workbench study run studies/quick.toml --storage journal:runs/quick/journal.log": _STUDY,
    "workbench study resume quick --fail-running": _STUDY,
    "workbench study run studies/quick.toml --minutes 3": _STUDY,
    "pip install -e .[dashboard]": "installs packages",
    "optuna-dashboard sqlite:///runs/quick/study.db": _SERVER,
    "optuna-dashboard runs/quick/journal.log": _SERVER,
    "workbench study report cem": _STUDY,
    "workbench study run studies/adr.toml": _RUN,
    "workbench study status adr": "reads the ADR study `study run studies/adr.toml` writes from a trained run",
    "workbench study best adr --out runs/adr/best.toml": "needs the profile the ADR study writes",
    "workbench study run studies/bayrn.toml": _STUDY,
    "workbench study best bayrn --out runs/bayrn/best/profile.toml": _STUDY,
    "workbench collect --out runs/tuned/offline --profile runs/quick/best/profile.toml --episodes 3000":
        "needs the profile `study best` writes after a study; 3000 episodes",
    # docs/studies.md: tuning randomization to your robot's data
    "workbench scene validate my_cell.toml --build": _CELL,
    "workbench scene preview my_cell.toml --n 8 --out my_cell.png": _CELL,
    "workbench data validate robot_data": _CELL,
    "workbench data split robot_data --tune-episodes 50 --tune-images 300 --seed 0": _CELL,
    "workbench collect --scene my_cell.toml --profile default --episodes 3000 --out runs/cell-warm/offline":
        _CELL + "; 3000 episodes",
    "workbench train --run runs/cell-warm --config warm.toml": _TRAINING,
    "workbench study run my_study.toml": _STUDY,
    "workbench study report cell": _STUDY,
    "workbench study best cell --out runs/cell/best/profile.toml": _STUDY,
    "workbench collect --scene my_cell.toml --profile default --episodes 3000 --out runs/cell-final/offline":
        _CELL + "; 3000 episodes",
    "workbench train --run runs/cell-final --config final.toml": _TRAINING,
    "workbench eval --policy runs/cell-final --scene my_cell.toml --episodes 200": _RUN,
    "workbench transfer --policy runs/cell-final --real robot_data --report reports/cell-transfer": _RUN,
    "workbench export runs/cell-final --out bundles/cell": _RUN,
    "workbench drive bundles/cell --episodes 50 --compare-run runs/cell-final --envelope robot.toml":
        _BUNDLE + " and the robot's envelope file",
}
# Programs other than `workbench` that may appear in NOT_RUN commands.
EXTERNAL = {"pip", "python", "tensorboard", "optuna-dashboard", "ray", "sudo", "export", "lint-imports"}
SHELL_OPERATORS = {"|", "||", ";", ">", ">>", "<", "&"}


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S)


def split_commands(block: str) -> list[list[str]]:
    """The block's commands as argument lists: continuations joined, comments dropped, `&&` split."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            if words[:cut]:
                commands.append(words[:cut])
            words = words[cut + 1:]
    return commands


def key(words: list[str]) -> str:
    return " ".join(words)


def doc_commands() -> dict[Path, list[list[str]]]:
    return {doc: [c for block in bash_blocks(doc.read_text()) for c in split_commands(block)] for doc in DOCUMENTS}


def parse_error(words: list[str]) -> str | None:
    """None when the real `workbench` parser accepts the command, else its message."""
    from workbench.cli import build_parser

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(words[1:])
    except SystemExit as exit_:
        return None if exit_.code == 0 else stderr.getvalue().strip() or f"exit {exit_.code}"
    return None


def test_the_splitter_handles_continuations_comments_and_chains():
    block = 'a --x 1 \\\n    --y "two words"   # note\n# only a comment\nb && c --z\n'
    assert split_commands(block) == [["a", "--x", "1", "--y", "two words"], ["b"], ["c", "--z"]]


def test_every_doc_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text()
    missing = [doc.name for doc in DOCUMENTS[1:] if f"docs/{doc.name}" not in readme]
    assert not missing, f"README.md does not link {missing}"


def test_every_workbench_command_in_the_docs_parses():
    problems = []
    for doc, commands in doc_commands().items():
        for words in commands:
            if any(w in SHELL_OPERATORS for w in words):
                problems.append(f"{doc.name}: {key(words)!r}: shell operators are not supported here")
            elif words[0] == "workbench":
                error = parse_error(words)
                if error:
                    problems.append(f"{doc.name}: {key(words)!r} does not parse: {error}")
            elif words[0] == "python" and len(words) > 1 and words[1].endswith(".py"):
                if not (REPO / words[1]).is_file():
                    problems.append(f"{doc.name}: {key(words)!r}: no script {words[1]} in the repository")
            elif key(words) not in NOT_RUN:
                problems.append(f"{doc.name}: {key(words)!r}: only `workbench` commands and `python SCRIPT.py` "
                                "run here; list it in NOT_RUN with the reason")
            elif words[0] not in EXTERNAL:
                problems.append(f"{doc.name}: {key(words)!r}: unknown program {words[0]!r}")
            elif words[:2] == ["python", "-m"] and importlib.util.find_spec(words[2].split(".")[0]) is None:
                problems.append(f"{doc.name}: {key(words)!r}: no module {words[2]!r}")
    assert not problems, "\n".join(problems)


def test_not_run_lists_only_commands_that_are_in_the_docs():
    present = {key(words) for commands in doc_commands().values() for words in commands}
    stale = sorted(set(NOT_RUN) - present)
    assert not stale, f"NOT_RUN names commands no doc has any more: {stale}"


def _workspace(tmp_path: Path) -> Path:
    """A working directory with copies of the files the docs' commands read."""
    shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "studies").mkdir()
    for study in (REPO / "studies").glob("*.toml"):
        shutil.copy(study, tmp_path / "studies")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    return tmp_path


def _program(words: list[str]) -> list[str]:
    if words[0] == "workbench":
        found = shutil.which("workbench")
        return [found, *words[1:]] if found else [sys.executable, "-m", "workbench.cli", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    return words


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda doc: doc.name)
def test_quick_commands_run_as_written(doc, tmp_path):
    workspace = _workspace(tmp_path)
    env = os.environ | {"MUJOCO_GL": "egl"}
    for words in doc_commands()[doc]:
        if key(words) in NOT_RUN:
            continue
        assert words[0] in ("workbench", "python"), f"{key(words)!r}: list it in NOT_RUN with the reason"
        started = time.monotonic()
        result = subprocess.run(_program(words), cwd=workspace, env=env, capture_output=True, text=True,
                                timeout=RUN_TIMEOUT_S)
        assert result.returncode == 0, (f"{doc.name}: {key(words)!r} exited {result.returncode} after "
                                        f"{time.monotonic() - started:.0f} s:\n{result.stderr[-2000:]}")
