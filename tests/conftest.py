"""Shared fixtures: a tiny SynthEgoExo dataset built once per test session (real files, no mocks)."""

import pytest


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A 3-clip test split (9 frames, ego 32x32, exo 32x48) on disk; returns its root folder."""
    from benchmark.data import build_synth

    root = tmp_path_factory.mktemp("data") / "tiny-synth"
    return build_synth(root, splits=("test",), seed=0, n_clips={"test": 3}, progress=False,
                       num_frames=9, ego_size=(32, 32), exo_size=(32, 48))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never build into (or read from) the user's real cache during tests."""
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path_factory.getbasetemp() / "exoego-cache"))
