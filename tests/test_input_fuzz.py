"""Property test of the front door (issue 30): valid files of each kind, mutated, are either
accepted or refused with the loader's own error naming the file, never a traceback, never a hang.

Each kind has a fixed budget (EXAMPLES); the counts of examples tried, accepted and refused per
kind are written to ``input_fuzz_counts.json`` in pytest's base temporary directory and printed
(visible with ``pytest -s``).
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 60  # per kind: 360 examples in all, well under a minute
HANG_S = 20  # one load taking longer than this counts as a hang


# -- mutations of parsed data and of raw text --------------------------------------------------------

def leaf_paths(data, prefix=()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            paths += leaf_paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            paths += leaf_paths(value, prefix + (index,))
    return paths


REPLACEMENTS = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 10**30, -(10**30), 0, -1, 1e300, "", "8", "off", True,
                     [], {}, [0, 0, 0], {"low": math.nan, "high": math.nan}, 64.0]),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
)

MUTATIONS = st.one_of(
    st.tuples(st.just("redump"), st.integers(min_value=0), st.none()),  # the same data, written again
    st.tuples(st.just("replace"), st.integers(min_value=0), REPLACEMENTS),
    st.tuples(st.just("delete"), st.integers(min_value=0), st.none()),
    st.tuples(st.just("unknown_key"), st.integers(min_value=0), st.text(min_size=1, max_size=8)),
    st.tuples(st.just("text_insert"), st.integers(min_value=0), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("text_truncate"), st.integers(min_value=0), st.none()),
    st.tuples(st.just("deep"), st.integers(min_value=100, max_value=50_000), st.none()),
)


def mutate_data(data, mutation):
    kind, index, value = mutation
    paths = leaf_paths(data)
    if not paths:
        return data
    *parents, last = paths[index % len(paths)]
    node = data
    for part in parents:
        node = node[part]
    if kind == "redump":
        return data
    if kind == "replace":
        node[last] = value
    elif kind == "delete":
        del node[last]
    elif kind == "unknown_key":
        target = node[last]
        if isinstance(target, dict):
            target[value] = 1
        else:
            node[last] = {value: target}
    return data


def mutated_bytes(text: bytes, mutation, dump, parse) -> bytes:
    kind, index, value = mutation
    if kind == "text_insert":
        at = index % (len(text) + 1)
        return text[:at] + value + text[at:]
    if kind == "text_truncate":
        return text[:index % (len(text) + 1)]
    if kind == "deep":
        return dump_deep(dump, index)
    return dump(mutate_data(parse(text.decode()), mutation))


def dump_deep(dump, depth: int) -> bytes:
    marker = dump({"x": 1})
    return marker.replace(b"1", b"[" * depth + b"]" * depth)


def toml_dump(data) -> bytes:
    return tomli_w.dumps(data).encode()


def json_dump(data) -> bytes:
    return json.dumps(data).encode()


# -- one kind of file per loader ---------------------------------------------------------------------

class Kind:
    """A valid file, how to write a variant, how to load it, and which error is a clean refusal."""

    def __init__(self, name, original: Path, target: Path, load, errors, dump, parse, named: Path | None = None):
        self.name, self.original, self.target = name, original, target
        self.named = str(named or target)  # a refusal's message names this path (or a file under it)
        self.load, self.errors, self.dump, self.parse = load, errors, dump, parse
        self.valid = original.read_bytes()


def _alarm(signum, frame):
    raise TimeoutError(f"a load took longer than {HANG_S} s")


def check(kind: Kind, mutation, counts: dict) -> None:
    tally = counts.setdefault(kind.name, {"tried": 0, "accepted": 0, "refused": 0, "unwritable": 0})
    try:
        payload = mutated_bytes(kind.valid, mutation, kind.dump, kind.parse)
    except (TypeError, ValueError, OverflowError):  # e.g. a mixed-type array TOML cannot hold
        tally["unwritable"] += 1
        return
    kind.target.write_bytes(payload)
    tally["tried"] += 1
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        kind.load()
    except kind.errors as error:
        message = str(error)
        assert message and kind.named in message, (mutation, message)
        assert "Traceback" not in message
        tally["refused"] += 1
    else:
        tally["accepted"] += 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def counts(tmp_path_factory):
    found: dict = {}
    yield found
    out = tmp_path_factory.getbasetemp() / "input_fuzz_counts.json"
    out.write_text(json.dumps(found, indent=2))
    print(f"\ninput fuzz counts ({out}): {json.dumps(found)}")


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    from bundle_helpers import export, make_run

    from policies.runtime.admission import admit_bundle
    from policies.runtime.bundle import BundleError
    from randomizers import ProfileError, load_profile
    from scenes.spec import SpecError, load_scene
    from studies.spec import load_study_file
    from workbench.errors import UserError
    from workbench.evaluation.realdata import Manifest, load_real_data, write_real_data
    from workbench.training.config import read_toml, validate_config

    root = tmp_path_factory.mktemp("fuzz")
    made = {}

    scene_dir = root / "scene"
    shutil.copytree(ROOT / "examples" / "custom_scene", scene_dir)
    made["scene"] = Kind("scene", ROOT / "examples" / "custom_scene" / "scene.toml", scene_dir / "scene.toml",
                         lambda: load_scene(scene_dir / "scene.toml"), SpecError, toml_dump, tomllib.loads)

    profile = root / "profile.toml"
    made["profile"] = Kind("profile", ROOT / "randomizers" / "profiles" / "default.toml", profile,
                           lambda: load_profile(profile), ProfileError, toml_dump, tomllib.loads)

    study = root / "study.toml"
    made["study"] = Kind("study", ROOT / "studies" / "quick.toml", study, lambda: load_study_file(study),
                         UserError, toml_dump, tomllib.loads)

    config = root / "config.toml"
    valid_config = root / "valid-config.toml"
    valid_config.write_text('offline_steps = 4\nfinetune_steps = 0\n[qtopt]\nimage_size = 16\nbatch_size = 8\n'
                            '[qtopt.cem]\niterations = 1\nsamples = 8\nelites = 2\n')
    made["config"] = Kind("config", valid_config, config,
                          lambda: validate_config(read_toml(config), str(config)), UserError, toml_dump,
                          tomllib.loads)

    rng = np.random.default_rng(0)
    steps = 2
    from workbench.evaluation.realdata import LabelledEpisode

    data_root = write_real_data(
        root / "realdata", Manifest("real", 16, 16, 0.05, "fuzz"),
        rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8),
        [LabelledEpisode(episode_id="ep-a", success=True,
                         images=rng.integers(0, 256, size=(steps, 16, 16, 3), dtype=np.uint8),
                         states=np.c_[np.zeros(steps), np.linspace(0.2, 0.05, steps)].astype(np.float32),
                         actions=np.tile(np.array([0.05, -0.02, -0.05, 0, 1, 0, 0, 0], np.float32), (steps, 1)),
                         final_image=rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8))])
    episode = data_root / "episodes" / "ep-a" / "episode.json"
    pristine_episode = root / "episode.json"
    shutil.copy(episode, pristine_episode)
    made["realdata"] = Kind("realdata", pristine_episode, episode, lambda: load_real_data(data_root), UserError,
                            json_dump, json.loads, named=data_root)

    bundle = export(make_run(root / "run"), root / "bundle")
    pristine_manifest = root / "manifest.json"
    shutil.copy(bundle / "manifest.json", pristine_manifest)
    made["manifest"] = Kind("manifest", pristine_manifest, bundle / "manifest.json", lambda: admit_bundle(bundle),
                            BundleError, json_dump, json.loads, named=bundle)
    return made


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("name", ["scene", "profile", "study", "config", "realdata", "manifest"])
def test_a_mutated_file_is_accepted_or_refused_cleanly(kinds, counts, name):
    kind = kinds[name]

    @SETTINGS
    @given(MUTATIONS)
    def property_holds(mutation):
        check(kind, mutation, counts)

    kind.target.write_bytes(kind.valid)
    kind.load()  # the unmutated file is valid
    property_holds()
    tally = counts[name]
    assert tally["tried"] >= EXAMPLES // 2 and tally["refused"] > 0 and tally["accepted"] > 0, tally
