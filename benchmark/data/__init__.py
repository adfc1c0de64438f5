"""Datasets of the benchmark: the embedded synthetic set SynthEgoExo, ExoEgo4D (converted from a local Ego-Exo4D
download by ``benchmark.data.egoexo4d``) and the on-disk dataset format they share.

Public API (the runner and the CLI rely on these names)::

    default_cache_dir() -> Path
    build_synth(out_dir, *, splits=("train", "val", "test"), seed=0, n_clips=None, progress=True, ...) -> Path
    load_split(dataset="synth", split="test", root=None, *, build_if_missing=True, config=None) -> ClipSet
    ClipSet  # name, split, config, root, identity, manifest_sha256, clip_ids, info, has_exo_depth; len, [i],
             # get(id), categories(),
             # verify_clip(id) -> content sha256 (benchmark.data.identity), raising DatasetIntegrityError on a change
    DatasetNotFoundError  # a FileNotFoundError
    UnknownSplitError, UnknownConfigError, ClipNotFoundError  # usage errors (benchmark.errors.UsageError)
    show_clip(clip, out_path, frames=None) -> Path  # PNG contact sheet with the ego camera drawn on the exo views

The format is documented in ``benchmark.data.hf_format``; the renderer in ``benchmark.data.synth``.
"""

from .loading import (ClipNotFoundError, ClipSet, DatasetIntegrityError, DatasetNotFoundError, UnknownSplitError,
                      default_cache_dir, load_split)


def __getattr__(name):
    # lazy: the renderer pulls in torch and show_clip matplotlib; loading a split needs neither
    if name == "build_synth":
        from .synth.build import build_synth

        return build_synth
    if name == "show_clip":
        from .show import show_clip

        return show_clip
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ClipNotFoundError", "ClipSet", "DatasetIntegrityError", "DatasetNotFoundError", "UnknownSplitError",
           "build_synth", "default_cache_dir", "load_split", "show_clip"]
