import os

# Rendering is headless: pick the software EGL backend before mujoco's GL loads.
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def single_torch_thread():
    """Small networks on one thread, restored afterwards (used by the learner's test files).

    On this 2-core machine, two OpenMP threads with the other core busy ran these small
    networks ~100x slower than one thread.
    """
    import torch  # only the files that ask for this fixture pay for torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A bundle exported from a tiny trained run, once per test file that asks for it."""
    from bundle_helpers import export, make_run  # torch and MuJoCo: only bundle tests pay

    root = tmp_path_factory.mktemp("bundle-source")
    return export(make_run(root / "run"), root / "bundle")


@pytest.fixture
def bundle(pristine, tmp_path):
    """A copy of the pristine bundle that a test may tamper with."""
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(pristine, copy)
    return copy
