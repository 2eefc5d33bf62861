import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


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
