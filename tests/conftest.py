"""Test-wide settings: the dataset index cache lives in a temporary folder, never in ~/.cache."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_index_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("REID_CACHE_DIR", str(tmp_path_factory.mktemp("index-cache")))
    yield
    mp.undo()
