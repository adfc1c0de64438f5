"""Shared fixtures of the metrics tests: tiny uint8 clips and a guard that fails any network access."""

import socket

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test (weights must never be downloaded here)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def make_clip():
    """``make_clip(seed, shape=(T, H, W, 3))``: a random uint8 RGB clip."""

    def make(seed: int, shape=(4, 24, 32, 3)) -> np.ndarray:
        return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)

    return make


@pytest.fixture
def perturb():
    """``perturb(video, seed, amplitude)``: the clip plus uniform integer noise, clipped to uint8."""

    def noisy(video: np.ndarray, seed: int, amplitude: int = 30) -> np.ndarray:
        noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, size=video.shape)
        return np.clip(video.astype(np.int64) + noise, 0, 255).astype(np.uint8)

    return noisy
