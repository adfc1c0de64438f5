"""Checkpoints are read only from safetensors: a folder whose weights are pickled is refused, not unpickled."""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from exo2egosyn.generator import Exo2EgoSynGenerator
from exo2egosyn.pipeline import load_wan_components

CHECKPOINTS = Path(__file__).resolve().parents[2] / "exo2egosyn" / "checkpoints"


def _pickle_instead_of_safetensors(folder: Path):
    """Replace every .safetensors file under ``folder`` by the same tensors in a pickled .bin file."""
    for st in list(folder.rglob("*.safetensors")):
        torch.save(load_file(str(st)), st.with_suffix(".bin"))
        st.unlink()


def test_shipped_tiny_backbone_loads_from_safetensors():
    parts = load_wan_components(CHECKPOINTS / "tiny-wan", torch_dtype=torch.float32)
    assert {"transformer", "vae", "text_encoder", "tokenizer", "scheduler"} <= set(parts)


def test_a_backbone_with_pickled_weights_is_refused(tmp_path):
    backbone = tmp_path / "tiny-wan"
    shutil.copytree(CHECKPOINTS / "tiny-wan", backbone)
    _pickle_instead_of_safetensors(backbone / "transformer")
    with pytest.raises(Exception, match="safetensors"):
        load_wan_components(backbone, torch_dtype=torch.float32)


def test_adapters_with_pickled_weights_are_refused(tmp_path):
    ckpt = tmp_path / "exo2egosyn"
    shutil.copytree(CHECKPOINTS / "exo2egosyn", ckpt)
    _pickle_instead_of_safetensors(ckpt / "align")
    gen = Exo2EgoSynGenerator(checkpoint=str(ckpt), device="cpu")
    with pytest.raises(Exception, match="safetensors"):
        gen.pipeline  # noqa: B018 - building the pipeline loads the adapters
