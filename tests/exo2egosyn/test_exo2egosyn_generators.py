"""The benchmark adapters: every registered Exo2EgoSyn / WAN generator through the Generator interface."""

import numpy as np
import pytest

from benchmark import registry
from exo2egosyn.generator import Exo2EgoSynGenerator, method_name, working_size
from exo2egosyn.testing import synthetic_inputs

NAMES = ["exo2egosyn", "exo2egosyn-no-align", "exo2egosyn-no-multiexocon", "exo2egosyn-no-poseinj", "wan2.2-ti2v"]


@pytest.fixture(scope="module", autouse=True)
def _no_shipped_checkpoints(tmp_path_factory):
    """These tests exercise the untrained path: hide the shipped checkpoints (exo2egosyn/checkpoints/), which
    ``tests/exo2egosyn/test_training.py::test_shipped_checkpoints_are_used_by_default`` covers."""
    from exo2egosyn import generator as gen_mod

    empty = tmp_path_factory.mktemp("no-checkpoints")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gen_mod, "CHECKPOINT_ROOT", empty)
        mp.setattr(gen_mod, "TINY_BACKBONE_DIR", empty / "tiny-wan")
        yield


@pytest.fixture(scope="module")
def generators():
    with pytest.warns(UserWarning):  # untrained weights must be announced
        gens = {n: registry.build(n, num_inference_steps=2) for n in NAMES}
        for g in gens.values():
            g.pipeline  # noqa: B018 - build now, inside the warns block
    return gens


@pytest.mark.parametrize("name", NAMES)
def test_generator_returns_uint8_video_at_the_ego_resolution(generators, name):
    x = synthetic_inputs(num_views=4, num_frames=17, seed=1)
    video = generators[name].generate(x, seed=0)
    assert video.dtype == np.uint8 and video.shape == (17, 64, 64, 3)


@pytest.mark.parametrize("name", ["exo2egosyn", "wan2.2-ti2v"])
def test_first_frame_track_with_frame_count_not_4k_plus_1(generators, name):
    x = synthetic_inputs(num_views=4, num_frames=15, track="first-frame", seed=2)
    video = generators[name].generate(x, seed=0)
    assert video.shape == (15, 64, 64, 3)


def test_missing_views_and_other_ego_resolution(generators):
    x = synthetic_inputs(num_views=4, num_frames=9, ego_size=(48, 80), seed=3).select_views([0, 2])
    video = generators["exo2egosyn"].generate(x, seed=0)
    assert video.shape == (9, 48, 80, 3) and video.dtype == np.uint8


def test_same_seed_same_video(generators):
    x = synthetic_inputs(num_views=3, num_frames=9, seed=4)
    g = generators["exo2egosyn"]
    a, b, c = g.generate(x, seed=7), g.generate(x, seed=7), g.generate(x, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_ablations_are_one_class_with_flags_and_config_records_everything(generators):
    for name in NAMES[:4]:
        g = generators[name]
        assert isinstance(g, Exo2EgoSynGenerator)
        cfg = g.config()
        assert method_name(cfg["use_align"], cfg["use_multiexocon"], cfg["use_poseinj"]) == name
        assert cfg["trained"] is False and cfg["num_inference_steps"] == 2 and cfg["backbone"] == "tiny"
    assert generators["exo2egosyn"].checkpoint_sha256() is None  # no weight files used


@pytest.mark.filterwarnings("ignore:exo2egosyn")
def test_checkpoint_folder_is_loaded_and_hashed(tmp_path):
    g = Exo2EgoSynGenerator(num_inference_steps=2)
    with pytest.warns(UserWarning):
        pipe = g.pipeline
    pipe.save_adapters(tmp_path / "ckpt")
    g2 = Exo2EgoSynGenerator(checkpoint=str(tmp_path / "ckpt"), num_inference_steps=2)
    assert g2.config()["trained"] is True
    assert len(g2.checkpoint_sha256()) == 64
    x = synthetic_inputs(num_views=2, num_frames=5, seed=5)
    assert np.array_equal(g2.generate(x, seed=0), g.generate(x, seed=0))


def test_working_size_keeps_multiples_and_aspect():
    assert working_size(64, 64, 16) == (64, 64)
    assert working_size(48, 80, 16) == (48, 80)
    h, w = working_size(1408, 1408, 32, max_area=704 * 1280)
    assert h % 32 == 0 and w == h
