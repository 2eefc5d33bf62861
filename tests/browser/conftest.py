"""Fixtures of the browser tests (the helpers are in labdriver.py)."""
import pytest

from labdriver import start_lab


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server for one test; yields (base URL, token)."""
    with start_lab(tmp_path) as server:
        yield server.base, server.token


@pytest.fixture(scope="module")
def course_lab(tmp_path_factory):
    """One JupyterLab server shared by a module's tests; yields a Lab."""
    with start_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server
