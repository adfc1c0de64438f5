"""Stage 0a: the tiny WAN VAE from scratch (L1 + KL on whole clips), per-frame PSNR while it trains, latent
statistics, and the tiny WAN folder it starts."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from .data import load_clips, to_square
from .loop import local_items, run_phase
from .losses import VAEStep
from .randomness import batch_indices, step_generator


@torch.no_grad()
def vae_reconstruct(vae, videos: np.ndarray, batch_size: int = 4) -> np.ndarray:
    """Posterior-mode reconstructions of uint8 videos (N, T, H, W, 3) -> uint8 (N, T, H, W, 3).

    Each video is encoded and decoded whole (T = 4k + 1 frames), as the pipeline does; the decoder output in
    [-1, 1] is rounded to uint8 like the generator's output.
    """
    if videos.ndim != 5 or videos.shape[-1] != 3 or (videos.shape[1] - 1) % 4:
        raise ValueError(f"expected uint8 videos (N, T = 4k + 1, H, W, 3), got shape {tuple(videos.shape)}")
    was_training = vae.training
    vae.eval()
    outs = []
    for i in range(0, len(videos), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(videos[i:i + batch_size])).float().div(127.5).sub(1.0)
        x = x.permute(0, 4, 1, 2, 3).to(vae.device, vae.dtype)  # (B, 3, T, H, W)
        rec = vae.decode(vae.encode(x).latent_dist.mode()).sample.float().cpu()
        outs.append(((rec.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).numpy())
    vae.train(was_training)
    return np.concatenate(outs)


def frame_psnr_table(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-clip, per-frame PSNR (dB, data range 1, the benchmark's ``frame_psnr``) of uint8 (N, T, H, W, 3)
    videos -> float (N, T)."""
    from benchmark.metrics.video_psnr import video_psnr

    return np.stack([video_psnr(p, t, per_frame=True).numpy() for p, t in zip(pred, target)]).astype(np.float64)


def vae_frame_psnr(vae, videos: np.ndarray, batch_size: int = 4) -> np.ndarray:
    """Per-clip, per-frame PSNR (N, T) of posterior-mode reconstructions of uint8 videos (N, T, H, W, 3);
    ``.mean(0)`` is the per-frame-index curve the VAE is judged by."""
    return frame_psnr_table(vae_reconstruct(vae, videos, batch_size), videos)


def vae_architecture(overrides: dict | None = None) -> dict:
    """``configs.TINY_VAE`` with ``overrides`` (the config's ``vae.model``); latents_mean / latents_std are reset
    to 0 / 1 of length z_dim when z_dim changes (training writes the measured statistics)."""
    from ..configs import TINY_VAE

    arch = copy.deepcopy(TINY_VAE)
    arch.update(copy.deepcopy(overrides or {}))
    z = int(arch["z_dim"])
    if len(arch["latents_mean"]) != z or len(arch["latents_std"]) != z:
        arch["latents_mean"], arch["latents_std"] = [0.0] * z, [1.0] * z
    if len(arch["dim_mult"]) - 1 != len(arch["temperal_downsample"]) or \
            2 ** len(arch["temperal_downsample"]) != arch["scale_factor_spatial"]:
        raise ValueError(f"vae.model: {len(arch['dim_mult']) - 1} down-sampling stages (dim_mult "
                         f"{arch['dim_mult']}) need temperal_downsample of that length and scale_factor_spatial "
                         f"2**stages; got {arch['temperal_downsample']} and {arch['scale_factor_spatial']}")
    # AutoencoderKLWan encodes frame 0, then chunks of 4 frames: 0, 1 or 2 temporal down-samplings give 4, 2 or 1
    # latent frames per chunk (17 frames -> 17, 9 or 5 latent frames)
    n_t = sum(bool(t) for t in arch["temperal_downsample"])
    if n_t > 2 or arch["scale_factor_temporal"] != 2 ** n_t:
        raise ValueError(f"vae.model: {n_t} temporal down-sampling stage(s) (temperal_downsample "
                         f"{arch['temperal_downsample']}) need scale_factor_temporal {2 ** n_t} and at most 2 stages "
                         f"(the VAE encodes in chunks of 4 frames); got scale_factor_temporal "
                         f"{arch['scale_factor_temporal']}")
    return arch


def eval_videos(cfg, H, W) -> dict:
    """{split: uint8 (N, T, H, W, 3)} ego videos of the first ``vae.eval_clips`` clips of each eval split."""
    from benchmark.data import load_split

    vc = cfg["vae"]
    out = {}
    if not int(vc["eval_clips"]):
        return out
    for split in vc["eval_splits"]:
        clips = load_split("synth", split, root=cfg["data"]["root"], build_if_missing=False)
        vids = [clips[i].ego_video for i in range(min(int(vc["eval_clips"]), len(clips)))]
        x = torch.stack([to_square(v, H, W) for v in vids])  # (N, 3, T, H, W) in [-1, 1]
        out[split] = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()
    return out


def record_vae_eval(vae, videos: dict, meta: dict, step: int, progress: bool):
    """Per-frame-index PSNR (mean over clips) of each eval split into ``meta["vae_eval"]`` (one entry per step)."""
    entry = {"step": int(step), "wall_s": round(float(meta["wall_s"]), 1)}
    for split, v in videos.items():
        entry[split] = [round(float(x), 3) for x in vae_frame_psnr(vae, v).mean(0)]
    evals = [e for e in meta.get("vae_eval", []) if e["step"] != step]
    meta["vae_eval"] = sorted(evals + [entry], key=lambda e: e["step"])
    if progress:
        parts = [f"{k} min {min(entry[k]):.2f} mean {np.mean(entry[k]):.2f}" for k in videos]
        print(f"[vae eval] step {step} wall {entry['wall_s']:.0f} s: " + "; ".join(parts), flush=True)


def train_vae(cfg, accelerator, state, meta, stop_after, progress):
    from diffusers import AutoencoderKLWan

    from ..configs import TINY_TRANSFORMER, build_tiny_components

    seed = cfg["seed"]
    vc = cfg["vae"]
    arch = vae_architecture(vc["model"])
    # the fresh transformer written next to the VAE reads and writes latents of the VAE's z_dim channels
    z = int(arch["z_dim"])
    comps = build_tiny_components(seed=seed, transformer_config=dict(TINY_TRANSFORMER, in_channels=z,
                                                                     out_channels=z))
    with torch.random.fork_rng(devices=[]):  # same seeding as build_tiny_components, with the config's sizes
        torch.manual_seed(seed + 1)
        vae = AutoencoderKLWan(**arch)
    for p in vae.parameters():
        p.requires_grad_(True)
    clips, idx = load_clips(cfg)
    H, W = clips.info["ego_size"]
    if vc["sources"] not in ("all", "ego"):
        raise ValueError(f"vae.sources must be 'all' or 'ego', got {vc['sources']!r}")
    # all training videos in memory as uint8: per clip the ego video and (sources "all") the V exo videos
    items = []
    for i in idx:
        clip = clips[i]
        items.append(("ego", clip.ego_video))
        if vc["sources"] == "all":
            for v in range(clip.exo_video.shape[0]):
                items.append((f"exo{v}", clip.exo_video[v]))
    T = items[0][1].shape[0]
    nf = T if vc["num_frames"] is None else int(vc["num_frames"])
    if not 1 <= nf <= T or (nf - 1) % 4:
        raise ValueError(f"vae.num_frames must be 4k + 1 and at most the clips' {T} frames (or null for whole "
                         f"clips), got {vc['num_frames']}")
    crop = None if vc["crop"] is None else int(vc["crop"])
    if crop is not None and not (0 < crop <= min(H, W) and crop % int(arch["scale_factor_spatial"]) == 0):
        raise ValueError(f"vae.crop must be a multiple of the VAE's {arch['scale_factor_spatial']}x spatial factor "
                         f"and at most the ego size {H}x{W} (or null), got {vc['crop']}")
    tc = cfg["train"]
    evals = eval_videos(cfg, H, W) if accelerator.is_main_process else {}
    every = int(vc["eval_every"])

    def batch_fn(step):
        if evals and every and step % every == 0 and step > 0:
            record_vae_eval(vae, evals, meta, step, progress)
        ids = local_items(batch_indices(seed, step, len(items), tc["batch_size"]), accelerator)
        g = step_generator(seed, step)
        starts = torch.randint(0, T - nf + 1, (tc["batch_size"],), generator=g).tolist()
        starts = local_items(starts, accelerator)
        x = torch.stack([to_square(items[i][1][s0:s0 + nf], H, W) for i, s0 in zip(ids, starts)])
        if crop:
            ys = local_items(torch.randint(0, H - crop + 1, (tc["batch_size"],), generator=g).tolist(), accelerator)
            xs = local_items(torch.randint(0, W - crop + 1, (tc["batch_size"],), generator=g).tolist(), accelerator)
            x = torch.stack([v[..., y0:y0 + crop, x0:x0 + crop] for v, y0, x0 in zip(x, ys, xs)])
        return {"x": x.to(accelerator.device), "generator": step_generator(seed, step, salt=1 + accelerator.process_index)}

    model = VAEStep(vae, vc["kl_weight"])
    finished = run_phase(accelerator, cfg, state, model, "vae", 0, tc["steps"], tc["lr"], batch_fn, meta,
                          stop_after, progress)
    out = Path(cfg["output_dir"])
    summary = {"output_dir": str(out)}
    if finished and accelerator.is_main_process:
        vae = accelerator.unwrap_model(model).vae.eval()
        if evals:
            record_vae_eval(vae, evals, meta, meta["step"], progress)
        # latent statistics over the first clips' full ego + exo videos
        with torch.no_grad():
            zs = []
            for i in idx[: int(vc["stats_clips"])]:
                clip = clips[i]
                vids = torch.cat([to_square(clip.ego_video, H, W)[None], to_square(clip.exo_video[:1], H, W)])
                zs.append(vae.encode(vids).latent_dist.mode())
            z = torch.cat(zs).transpose(0, 1).flatten(1)
            mean, std = z.mean(1), z.std(1).clamp_min(1e-3)
        vae.register_to_config(latents_mean=[float(m) for m in mean], latents_std=[float(s) for s in std])
        meta["latents_mean"], meta["latents_std"] = vae.config.latents_mean, vae.config.latents_std
        comps["vae"] = vae
        save_backbone(comps, out)
    return finished, summary


def save_backbone(comps: dict, out: Path):
    """Write a diffusers-format WAN folder (what ``load_wan_components`` / the generator read)."""
    from diffusers import WanPipeline

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = WanPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"],
                       transformer=comps["transformer"], vae=comps["vae"], scheduler=comps["scheduler"])
    pipe.save_pretrained(str(out), safe_serialization=True)
