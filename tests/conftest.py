import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")

# Under pytest-xdist (`make test` runs two workers on two cores) each worker, and every process
# it starts (CLI runs, notebook kernels), computes on one thread: two workers with two OpenMP
# threads each oversubscribe two cores, and in a first try that made the 15-second gpu smoke
# test take 8 minutes (OpenMP threads waiting on each other).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def quick_splits():
    """The quick (CI-sized) synthetic split, rendered once per test session."""
    from carcourse.data import make_synthetic

    return make_synthetic(quick=True, seed=0)


@pytest.fixture(scope="session")
def full_splits():
    """The exercise-sized synthetic split (about 5 s to render)."""
    from carcourse.data import make_synthetic

    return make_synthetic(quick=False, seed=0)


@pytest.fixture
def tiny_set():
    """48 random images, half car: for tests of the mechanics, not of learning."""
    from carcourse.data import ImageSet

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (48, 3, 64, 64), dtype=torch.uint8, generator=g)
    labels = torch.arange(48) % 2
    return ImageSet(images, labels)
