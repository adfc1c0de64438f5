"""Training data: the synthetic clips, their latents and (adapters) their conditioning, cached on disk by content.

The adapters' conditioning is built by :mod:`exo2egosyn.conditioning`, the functions the pipeline uses at inference
(``tests/exo2egosyn/test_conditioning_agreement.py``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.video_ops import center_crop

from .. import conditioning


def load_clips(cfg: dict):
    from benchmark.data import load_split

    clips = load_split("synth", cfg["data"]["split"], root=cfg["data"]["root"], build_if_missing=False)
    n = cfg["data"]["n_clips"]
    idx = list(range(len(clips) if n is None else min(int(n), len(clips))))
    return clips, idx


def to_square(video: np.ndarray, height: int, width: int) -> torch.Tensor:
    """uint8 (..., T, H, W, 3) -> float (..., 3, T, height, width) in [-1, 1]: center crop to the target aspect,
    antialiased bilinear resize."""
    x = center_crop(torch.from_numpy(np.ascontiguousarray(video)).float().div(127.5).sub(1.0), height, width)
    lead = x.shape[:-3]
    y = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2)
    if y.shape[-2:] != (height, width):
        y = F.interpolate(y, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    y = y.clamp(-1, 1).permute(0, 2, 3, 1).reshape(*lead, height, width, 3)
    return y.movedim(-1, -4)


@torch.no_grad()
def encode_latents(vae, video: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """:func:`conditioning.encode_normalized` of (N, 3, T, H, W) in [-1, 1], ``chunk`` videos at a time."""
    return torch.cat([conditioning.encode_normalized(vae, video[i:i + chunk], device="cpu")
                      for i in range(0, len(video), chunk)])


@torch.no_grad()
def adapter_clip_inputs(vae, transformer_config, clip) -> dict:
    """One training clip's conditioning, built by the functions the pipeline uses at inference.

    The clip goes through :func:`conditioning.clip_inputs` at :func:`conditioning.generation_sizes` (no area
    cap: the clip's own sizes, snapped to the latent grid) and :func:`conditioning.exo_conditioning` with every
    map; the no-Align first frame is :func:`conditioning.closest_exo_frame`. Returns exo (V, C, T', hx, wx),
    geometry {rays_exo, ego_rays0, rays_ego, base_view} (batch dimension dropped), closest (C, 1, h, w), and the
    ego size (h, w) in pixels that all of it was built for.
    """
    inputs = clip.inputs("exo-only")
    s, tf = vae.config.scale_factor_spatial, vae.config.scale_factor_temporal
    sizes = conditioning.generation_sizes((inputs.ego_height, inputs.ego_width), inputs.exo_video.shape[2:4],
                                          inputs.num_frames, spatial_factor=s,
                                          patch_size=transformer_config.patch_size, temporal_factor=tf)
    ci = conditioning.clip_inputs(inputs, sizes)
    exo = conditioning.exo_conditioning(
        ci.exo_video, ci.exo_K, ci.exo_T_world_cam, ci.ego_K, ci.ego_T_world_cam, height=sizes.height,
        width=sizes.width, num_frames=sizes.num_frames, spatial_factor=s, temporal_factor=tf,
        encode=lambda clips: encode_latents(vae, clips), ego_rays0=True, rays_ego=True, device="cpu")
    frame0 = conditioning.closest_exo_frame(ci.exo_video, exo.base_view, sizes.height, sizes.width)
    geom = dict(rays_exo=exo.rays_exo[0], ego_rays0=exo.ego_rays0[0], rays_ego=exo.rays_ego[0],
                base_view=exo.base_view[0])
    return dict(exo=exo.exo_latents[0], geom=geom, closest=encode_latents(vae, frame0)[0],
                size=(sizes.height, sizes.width))


def cached(path: Path, build):
    """``torch.load(path)``, or ``build()`` written there atomically (the project's atomic writer: a half-written
    file is never read, and the temporary file is removed if the write fails)."""
    if path.is_file():
        return torch.load(path, weights_only=True)
    data = build()
    from benchmark.atomic import atomic_path

    with atomic_path(path, fsync=False) as tmp:  # a cache: a lost entry is only recomputed
        torch.save(data, tmp)
    return data


def text_embeds(comps, texts, max_len):
    from ..pipeline import Exo2EgoSynPipeline

    pipe = Exo2EgoSynPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                              scheduler=comps["scheduler"], transformer=comps["transformer"])
    with torch.no_grad():
        pe, _ = pipe.encode_prompt(list(texts), None, False, max_sequence_length=max_len, device="cpu")
    return pe


def build_cache(cfg, comps, clips, idx, kind: str, accelerator=None) -> dict:
    """Latents (and geometry for ``kind="adapters"``) of the training clips, cached on disk by content."""
    vae = comps["vae"]
    # "conditioning-1": adapter inputs built by exo2egosyn.conditioning (the pipeline's functions); an entry written
    # by an earlier layout of this cache is never read as this one
    key = hashlib.sha256(json.dumps([kind, clips.manifest_sha256, clips.split, idx, conditioning.vae_identity(vae),
                                     cfg["flow"]["max_sequence_length"], cfg["flow"]["exo_views"], "conditioning-1",
                                     list(comps["transformer"].config.patch_size)]).encode())
    path = Path(cfg["cache_dir"]) / f"{kind}-{key.hexdigest()[:20]}.pt"

    def build():
        from tqdm.auto import tqdm

        out = {"ego": [], "exo": [], "text": [], "geom": [], "closest": [], "texts": []}
        H, W = clips.info["ego_size"]
        for i in tqdm(idx, desc=f"encode {kind}", disable=not cfg.get("_progress", True)):
            clip = clips[i]
            c = adapter_clip_inputs(vae, comps["transformer"].config, clip) if kind == "adapters" else None
            # the target: the ego video at the size the conditioning was built for
            ego = to_square(clip.ego_video, *((H, W) if c is None else c["size"]))[None]
            out["ego"].append(encode_latents(vae, ego)[0])
            out["texts"].append(clip.text or "")
            if kind == "foundation":
                views = range(clip.exo_video.shape[0]) if cfg["flow"]["exo_views"] == "all" else \
                    range(int(cfg["flow"]["exo_views"]))
                exo = to_square(clip.exo_video[list(views)], H, W)  # (v, 3, T, H, W)
                out["exo"].append(encode_latents(vae, exo))
            else:
                out["exo"].append(c["exo"])
                out["geom"].append(c["geom"])
                out["closest"].append(c["closest"])
        out["text"] = list(text_embeds(comps, out["texts"], cfg["flow"]["max_sequence_length"]))
        return out

    if accelerator is not None and not accelerator.is_main_process:
        accelerator.wait_for_everyone()
        return torch.load(path, weights_only=True)
    data = cached(path, build)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return data
