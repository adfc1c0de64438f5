"""Training of the tiny Exo2EgoSyn: foundation stage 0 (VAE, then transformer) and the two adapter stages.

One entry point, :func:`train` (CLI: ``python -m exo2egosyn train --config exo2egosyn/configs/<x>.yaml``), on
``accelerate``: the same command runs on CPU, on a GPU, or on several processes / GPUs with
``accelerate launch -m exo2egosyn train --config ...`` (the global batch is split over processes).

Stages (``stage:`` in the config):

* ``vae`` (foundation 0a): the tiny WAN VAE (``configs.TINY_VAE`` with the config's ``vae.model`` overrides),
  trained from scratch on the synthetic ego videos and exo videos (exo center-cropped to the ego aspect and
  resized to the ego size), L1 + KL, on whole clips by default: every use decodes whole 17-frame clips, and a
  VAE trained on 5-frame windows reconstructs the 3rd-5th latent chunks of a whole clip 3-4 dB worse than the
  same frames decoded as a 5-frame window (measured, ``benchmarks/vae_per_frame.py``). Optional random
  spatial crops (``vae.crop``) make a step cheaper; PSNR per frame index on train / test clips is measured as it
  trains (``vae.eval_every``) and written into the model card.
  Afterwards the per-channel latent mean / std over training clips are written into the VAE config
  (``latents_mean`` / ``latents_std``, which WAN uses to normalize latents), and the whole tiny WAN folder
  (diffusers format: transformer (fresh), vae (trained), text_encoder, tokenizer, scheduler) is written.
* ``transformer`` (foundation 0b): the tiny WAN transformer trained as an ordinary image-to-video model
  (WAN 2.2 TI2V ``expand_timesteps``: first latent frame clean, its tokens at timestep 0, no loss there) on
  the ego videos and the (cropped / resized) exo videos, with the flow-matching objective below, text dropout
  0.1. Writes ``transformer/`` of the backbone folder.
* ``adapters``: Exo2EgoSyn on the frozen backbone. Stage 1 (only with ``use_align``): EgoExo-Align trained
  with :func:`exo2egosyn.align.alignment_loss` against the normalized VAE latent of the true ego first frame.
  Stage 2: MultiExoCon + PoseInj (those enabled) + LoRA on the transformer's attention, flow loss, Align
  frozen; the first-frame condition is what inference uses in the exo-only track (Align's prediction, or
  without Align the closest exo view's first frame resized to the ego size). Writes ``save_adapters``.

Flow matching, as WAN / the pipeline's UniPC ``flow_prediction`` scheduler: ``u ~ U(0, 1)``, shifted
``sigma = s u / (1 + (s - 1) u)`` with ``s = flow_shift`` of the backbone's scheduler (3.0 tiny), timestep
``1000 sigma``, ``x_t = (1 - sigma) x0 + sigma noise``, target ``v = noise - x0``, MSE over latent frames >= 1.

Determinism and resume: every random draw of step ``k`` (which clips, which source video, noise, sigma, text
dropout, VAE sample) comes from a generator seeded with ``(seed, k)``, and the data order is a permutation
per epoch seeded with ``(seed, epoch)``. State is saved every ``save_every`` steps into ``work_dir``
(trainable weights as safetensors, optimizer / LR-scheduler / RNG state, loss history); a rerun of the same
command resumes from the last one and ends in the same state as an uninterrupted run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.hashing import sha256_file
from benchmark.video_ops import center_crop

from . import conditioning

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "stage": "adapters",
    "name": None,                      # run name (default: the output folder's name)
    "seed": 0,
    "data": {"root": None, "split": "train", "n_clips": None},  # root None: $EXOEGO_CACHE/synth-v2
    "backbone": "exo2egosyn/checkpoints/tiny-wan",             # stages transformer / adapters: read from here
    "output_dir": None,                # shipped weights (vae / transformer stages: the backbone folder)
    "work_dir": None,                  # resume state (relative: under $EXO2EGOSYN_SCRATCH, default
                                       # ~/.cache/exo2egosyn/train-runs)
    "cache_dir": None,                 # latent cache (default: <work_dir>/../latent-cache)
    "threads": 1,
    "mixed_precision": "no",
    # lr_decay: [[step, factor], ...]: from that step of the phase on, the learning rate is lr * factor (the
    # factors of passed steps multiply); [] = constant after the linear warm-up
    "train": {"steps": 100, "batch_size": 4, "lr": 1e-3, "weight_decay": 0.0, "warmup_steps": 0, "lr_decay": [],
              "grad_clip": 1.0, "save_every": 50, "log_every": 10},
    # vae: num_frames None = whole clips (every use encodes / decodes whole 17-frame clips); model: overrides of
    # configs.TINY_VAE; sources: "all" (ego + exo videos) or "ego"; eval_every: per-frame PSNR of eval_clips clips
    # of each eval_splits split every eval_every steps (0: only at the end, when eval_clips > 0)
    # crop: train on random crop x crop windows (the same for all frames of a clip; None: whole frames) - the VAE
    # is convolutional, so a 32x32 crop costs a quarter of a 64x64 frame and the evaluation stays on whole frames
    "vae": {"num_frames": None, "crop": None, "kl_weight": 1e-4, "stats_clips": 32, "model": {},
            "sources": "all", "eval_every": 0, "eval_clips": 0, "eval_splits": ["train", "test"]},
    "flow": {"text_dropout": 0.0, "max_sequence_length": 64, "exo_views": "all"},
    "adapters": {"use_align": True, "use_multiexocon": True, "use_poseinj": True, "lora_rank": 8,
                 "stage1_steps": 100, "stage1_lr": 1e-3, "stage2_lr": 5e-4, "cosine_weight": 0.0,
                 "module_seed": 0},
}


# ----------------------------------------------------------------------------------------------- config
def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path_or_dict) -> dict:
    """A YAML file (or dict) merged over :data:`DEFAULTS`."""
    if isinstance(path_or_dict, dict):
        raw = path_or_dict
    else:
        import yaml

        with open(path_or_dict) as f:
            raw = yaml.safe_load(f) or {}
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = _merge(DEFAULTS, raw)
    if cfg["stage"] not in ("vae", "transformer", "adapters"):
        raise ValueError(f"stage must be vae, transformer or adapters, got {cfg['stage']!r}")
    if cfg["output_dir"] is None:
        raise ValueError("config needs output_dir")
    return cfg


def apply_overrides(raw: dict, overrides) -> dict:
    """``raw`` (a config as read from YAML) with ``KEY=VALUE`` overrides applied; ``KEY`` is a dotted path
    (``train.steps``, ``vae.model.z_dim``), ``VALUE`` is parsed as YAML (``3000``, ``[[1925, 0.25]]``, ``null``).
    The overridden config is what the run records (model card, ``--print-config``)."""
    import yaml

    out = copy.deepcopy(raw)
    for item in overrides or ():
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE with a dotted KEY (e.g. train.steps=3000), got {item!r}")
        parts = key.strip().split(".")
        if parts[0] not in DEFAULTS:
            raise ValueError(f"--set {item}: unknown config key {parts[0]!r}; known: {sorted(DEFAULTS)}")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item}: {part!r} is not a section of the config")
        try:
            node[parts[-1]] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {item}: the value is not valid YAML ({exc})") from None
    return out


def _path(p, base=None) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(str(p))))
    if not p.is_absolute():
        p = (Path(base) if base is not None else Path.cwd()) / p
    return p


def _resolve_paths(cfg: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg["output_dir"] = str(_path(cfg["output_dir"]))
    name = cfg["name"] or Path(cfg["output_dir"]).name
    if cfg["stage"] != "adapters":
        name = cfg["name"] or f"foundation-{cfg['stage']}"
    cfg["name"] = name
    scratch = os.environ.get("EXO2EGOSYN_SCRATCH", "~/.cache/exo2egosyn/train-runs")
    cfg["work_dir"] = str(_path(cfg["work_dir"] or name, base=_path(scratch)))
    cfg["cache_dir"] = str(_path(cfg["cache_dir"])) if cfg["cache_dir"] else str(Path(cfg["work_dir"]).parent /
                                                                                     "latent-cache")
    if cfg["data"]["root"] is None:
        from benchmark.data.loading import synth_default_root

        cfg["data"]["root"] = str(synth_default_root())
    cfg["data"]["root"] = str(_path(cfg["data"]["root"]))
    cfg["backbone"] = str(_path(cfg["backbone"]))
    return cfg


# ----------------------------------------------------------------------------------------------- randomness
def step_generator(seed: int, step: int, salt: int = 0) -> torch.Generator:
    """The generator of one step: a function of (seed, step) only, so resuming replays the same draws."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step) * 7919 + salt * 104_729) % (2 ** 63))


def batch_indices(seed: int, step: int, n_items: int, batch_size: int) -> list:
    """Item indices of global batch ``step``: consecutive slices of one permutation per epoch."""
    out = []
    start = step * batch_size
    for pos in range(start, start + batch_size):
        epoch, k = divmod(pos, n_items)
        perm = torch.randperm(n_items, generator=torch.Generator().manual_seed(int(seed) * 9973 + epoch))
        out.append(int(perm[k]))
    return out


def shifted_sigmas(u: torch.Tensor, shift: float) -> torch.Tensor:
    """WAN / UniPC flow shift: ``s u / (1 + (s - 1) u)``."""
    return shift * u / (1 + (shift - 1) * u)


# ----------------------------------------------------------------------------------------------- data
def _load_clips(cfg: dict):
    from benchmark.data import load_split

    clips = load_split("synth", cfg["data"]["split"], root=cfg["data"]["root"], build_if_missing=False)
    n = cfg["data"]["n_clips"]
    idx = list(range(len(clips) if n is None else min(int(n), len(clips))))
    return clips, idx


def _to_square(video: np.ndarray, height: int, width: int) -> torch.Tensor:
    """uint8 (..., T, H, W, 3) -> float (..., 3, T, height, width) in [-1, 1]: center crop to the target aspect,
    antialiased bilinear resize."""
    x = center_crop(torch.from_numpy(np.ascontiguousarray(video)).float().div(127.5).sub(1.0), height, width)
    lead = x.shape[:-3]
    y = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2)
    if y.shape[-2:] != (height, width):
        y = F.interpolate(y, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    y = y.clamp(-1, 1).permute(0, 2, 3, 1).reshape(*lead, height, width, 3)
    return y.movedim(-1, -4)


def _sha_files(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*.safetensors")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------- trainable wrappers
class VAEStep(nn.Module):
    """L1 reconstruction + KL of the WAN VAE on a batch of videos (B, 3, T, H, W) in [-1, 1].

    The videos go through the causal encoder / decoder whole (frame 0, then chunks of 4 frames, each chunk
    reading the cached activations of the previous one), exactly as inference encodes and decodes them.
    """

    def __init__(self, vae, kl_weight):
        super().__init__()
        self.vae, self.kl_weight = vae, kl_weight

    def forward(self, x, generator):
        post = self.vae.encode(x).latent_dist
        z = post.sample(generator=generator)
        rec = self.vae.decode(z).sample
        rec_loss = (rec - x).abs().mean()
        kl = 0.5 * (post.mean.pow(2) + post.var - 1.0 - post.logvar).mean()
        return rec_loss + self.kl_weight * kl


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


def flow_inputs(x0, condition, noise, sigma, patch_size):
    """Noisy WAN TI2V input with the clean first latent frame and per-token timesteps (0 on frame 0).

    ``x_t = (1 - sigma) x0 + sigma noise`` on the generated frames, the condition latent on frame 0, timesteps
    ``1000 sigma`` per token (the pipeline's denoising loop builds its inputs with the same functions of
    :mod:`exo2egosyn.conditioning`); target ``noise - x0`` (flow matching velocity).
    """
    B, C, Tl, h, w = x0.shape
    s = sigma.view(B, 1, 1, 1, 1)
    xt = (1 - s) * x0 + s * noise
    mask = conditioning.first_frame_mask(Tl, h, w, device=x0.device, dtype=x0.dtype)
    latent_in = conditioning.with_clean_first_frame(xt, condition, mask)
    timestep = conditioning.token_timesteps(mask, sigma * 1000.0, patch_size, B)  # (B, seq)
    target = noise - x0
    return latent_in, timestep, target


class FlowStep(nn.Module):
    """Flow-matching loss of the transformer (+ optional Exo2EgoSyn injection modules), frames >= 1 only."""

    def __init__(self, transformer, multiexocon=None, poseinj=None):
        super().__init__()
        self.transformer, self.multiexocon, self.poseinj = transformer, multiexocon, poseinj

    def injection(self, exo_latents, rays_exo, rays_ego, ego_latent_size: tuple):
        """MultiExoCon(exo latents, exo rays) + PoseInj(ego rays), (B, inner, T', H', W'), or None without both."""
        injection = None
        if self.multiexocon is not None:
            injection = self.multiexocon(exo_latents, rays_exo, None, ego_latent_size=tuple(ego_latent_size))
        if self.poseinj is not None:
            p = self.poseinj(rays_ego, None)
            injection = p if injection is None else injection + p
        return injection

    def forward(self, x0, condition, text, noise, sigma, exo_latents=None, rays_exo=None, rays_ego=None):
        from .pipeline import patch_embedding_addition

        latent_in, timestep, target = flow_inputs(x0, condition, noise, sigma, self.transformer.config.patch_size)
        injection = self.injection(exo_latents, rays_exo, rays_ego, tuple(x0.shape[-2:]))
        with patch_embedding_addition(self.transformer, injection):
            pred = self.transformer(hidden_states=latent_in, timestep=timestep, encoder_hidden_states=text,
                                    return_dict=False)[0]
        return F.mse_loss(pred[:, :, 1:].float(), target[:, :, 1:].float())


class AlignStep(nn.Module):
    def __init__(self, align, cosine_weight=0.0):
        super().__init__()
        self.align, self.cosine_weight = align, cosine_weight

    def forward(self, exo_latents, rays_exo, ego_rays0, base_view, target):
        from .align import alignment_loss

        pred = self.align(exo_latents, rays_exo, ego_rays0, base_view=base_view)
        return alignment_loss(pred, target, self.cosine_weight)


# ----------------------------------------------------------------------------------------------- caches
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


def _numpy_rng_to_tensors():
    """numpy's global RNG state as tensors and plain numbers, so resume files load with ``weights_only=True``."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _numpy_rng_from_tensors(d):
    return (d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["cached_gaussian"])


def _cached(path: Path, build):
    if path.is_file():
        return torch.load(path, weights_only=True)
    data = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(data, tmp)
    os.replace(tmp, path)
    return data


def _text_embeds(comps, texts, max_len):
    from .pipeline import Exo2EgoSynPipeline

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
    key = hashlib.sha256(json.dumps([kind, clips.manifest_sha256, clips.split, idx, _sha_files_vae(vae),
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
            ego = _to_square(clip.ego_video, *((H, W) if c is None else c["size"]))[None]
            out["ego"].append(encode_latents(vae, ego)[0])
            out["texts"].append(clip.text or "")
            if kind == "foundation":
                views = range(clip.exo_video.shape[0]) if cfg["flow"]["exo_views"] == "all" else \
                    range(int(cfg["flow"]["exo_views"]))
                exo = _to_square(clip.exo_video[list(views)], H, W)  # (v, 3, T, H, W)
                out["exo"].append(encode_latents(vae, exo))
            else:
                out["exo"].append(c["exo"])
                out["geom"].append(c["geom"])
                out["closest"].append(c["closest"])
        out["text"] = list(_text_embeds(comps, out["texts"], cfg["flow"]["max_sequence_length"]))
        return out

    if accelerator is not None and not accelerator.is_main_process:
        accelerator.wait_for_everyone()
        return torch.load(path, weights_only=True)
    data = _cached(path, build)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return data


def _sha_files_vae(vae) -> str:
    h = hashlib.sha256()
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().numpy().tobytes())
    h.update(json.dumps([list(vae.config.latents_mean), list(vae.config.latents_std)]).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------- state
class RunState:
    """Resume state in ``work_dir``: ``state/`` (latest) with trainable weights (safetensors), optimizer,
    scheduler, RNG and ``meta.json`` (step, stage, losses, wall time)."""

    def __init__(self, work_dir):
        self.dir = Path(work_dir) / "state"

    def exists(self):
        return (self.dir / "meta.json").is_file()

    def save(self, params: dict, optimizer, scheduler, meta: dict):
        from safetensors.torch import save_file

        tmp = self.dir.with_name("state.tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in params.items()}, str(tmp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "numpy_rng": _numpy_rng_to_tensors()}, tmp / "optim.pt")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if self.dir.exists():
            shutil.rmtree(self.dir)
        os.replace(tmp, self.dir)

    def meta(self):
        return json.loads((self.dir / "meta.json").read_text())

    def load(self, named_params: dict, optimizer, scheduler):
        from safetensors.torch import load_file

        state = load_file(str(self.dir / "trainable.safetensors"))
        missing = set(named_params) ^ set(state)
        if missing:
            raise ValueError(f"resume state in {self.dir} does not match the model: {sorted(missing)[:5]}")
        with torch.no_grad():
            for k, p in named_params.items():
                p.copy_(state[k])
        opt = torch.load(self.dir / "optim.pt", weights_only=True)
        optimizer.load_state_dict(opt["optimizer"])
        scheduler.load_state_dict(opt["scheduler"])
        torch.set_rng_state(opt["torch_rng"])
        np.random.set_state(_numpy_rng_from_tensors(opt["numpy_rng"]))


def _trainable(module) -> dict:
    return {n: p for n, p in module.named_parameters() if p.requires_grad}


# ----------------------------------------------------------------------------------------------- loop
def _run_phase(accelerator, cfg, state, model, phase: str, first_step: int, n_steps: int, lr: float,
               batch_fn, meta: dict, stop_after: int | None, progress: bool):
    """Train ``model`` (a loss module) for global steps [first_step, first_step + n_steps) of ``phase``.

    Returns False when stopped early by ``stop_after`` (a simulated interruption), else True.
    """
    from tqdm.auto import tqdm

    tc = cfg["train"]
    named = _trainable(model)
    params = list(named.values())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=tc["weight_decay"], betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(tc))
    start = first_step
    if meta["step"] > first_step and state.exists() and state.meta()["phase"] == phase:
        state.load(named, optimizer, scheduler)
        start = meta["step"]
    model, optimizer = accelerator.prepare(model, optimizer)
    end = first_step + n_steps
    bar = tqdm(total=n_steps, initial=start - first_step, desc=f"{meta['name']}:{phase}",
               disable=not (progress and accelerator.is_main_process), dynamic_ncols=True)
    t_last = time.time()
    finished = True
    for step in range(start, end):
        if stop_after is not None and step >= stop_after:
            finished = False
            break
        model.train()
        loss = model(**batch_fn(step))
        accelerator.backward(loss)
        if tc["grad_clip"]:
            accelerator.clip_grad_norm_(params, tc["grad_clip"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(accelerator.reduce(loss.detach()[None], reduction="mean")[0])
        if not math.isfinite(value):
            raise FloatingPointError(f"{phase}: loss is {value} at step {step}")
        meta["losses"].setdefault(phase, []).append([step, value])
        meta["step"] = step + 1
        bar.update(1)
        if (step + 1) % tc["log_every"] == 0:
            recent = [v for _, v in meta["losses"][phase][-tc["log_every"]:]]
            bar.set_postfix(loss=f"{np.mean(recent):.4f}")
        if (step + 1) % tc["save_every"] == 0 or step + 1 == end:
            now = time.time()
            meta["wall_s"] += now - t_last
            t_last = now
            meta["phase"] = phase
            if accelerator.is_main_process:
                state.save(_trainable(accelerator.unwrap_model(model)), optimizer, scheduler, meta)
            accelerator.wait_for_everyone()
    bar.close()
    return finished


def lr_factor(tc: dict):
    """Multiplier of the learning rate at step k of a phase: linear warm-up over ``warmup_steps``, times the
    factor of every ``lr_decay`` milestone ``[step, factor]`` already reached (step decay, as in torch's
    MultiStepLR, but with a factor per milestone)."""
    warm = int(tc["warmup_steps"])
    try:
        decay = sorted((int(k), float(f)) for k, f in (tc.get("lr_decay") or []))
    except (TypeError, ValueError):
        raise ValueError(f"train.lr_decay must be a list of [step, factor] pairs, got {tc.get('lr_decay')!r}") \
            from None

    def factor(k: int) -> float:
        f = min(1.0, (k + 1) / warm) if warm else 1.0
        for at, d in decay:
            if k >= at:
                f *= d
        return f
    return factor


def _local(batch_global: list, accelerator) -> list:
    n, r = accelerator.num_processes, accelerator.process_index
    per = len(batch_global) // n
    if per * n != len(batch_global):
        raise ValueError(f"batch_size {len(batch_global)} is not divisible by {n} processes")
    return batch_global[r * per:(r + 1) * per]


def train(config, *, stop_after: int | None = None, progress: bool = True) -> dict:
    """Run (or resume) the training described by ``config`` (YAML path or dict). Returns a summary dict.

    ``stop_after``: stop before global step ``stop_after`` (simulates an interruption; the state saved at the
    last ``save_every`` boundary is what a rerun resumes from).
    """
    from accelerate import Accelerator

    cfg = _resolve_paths(load_config(config))
    cfg["_progress"] = progress
    torch.set_num_threads(int(cfg["threads"]))
    accelerator = Accelerator(mixed_precision=cfg["mixed_precision"], cpu=not torch.cuda.is_available())
    work = Path(cfg["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    state = RunState(work)
    meta = {"name": cfg["name"], "stage": cfg["stage"], "step": 0, "phase": None, "losses": {}, "wall_s": 0.0}
    if state.exists():
        meta = state.meta()
    # one entry per session (a resumed run may continue on other hardware): the card says where each part ran
    meta.setdefault("sessions", []).append({"from_step": int(meta["step"]), "hardware": hardware_description(),
                                            "threads": int(cfg["threads"]),
                                            "processes": int(accelerator.num_processes)})
    fn = {"vae": _train_vae, "transformer": _train_transformer, "adapters": _train_adapters}[cfg["stage"]]
    finished, summary = fn(cfg, accelerator, state, meta, stop_after, progress)
    summary.update(finished=finished, step=meta["step"], work_dir=str(work), losses=meta["losses"],
                   wall_s=meta["wall_s"])
    if accelerator.is_main_process:
        plot_losses(meta["losses"], work / "loss.png", title=cfg["name"])
        if finished:
            shutil.copy(work / "loss.png", Path(summary["output_dir"]) / f"loss-{cfg['name']}.png")
            write_model_card(cfg, meta, summary)
    accelerator.wait_for_everyone()
    return summary


# ----------------------------------------------------------------------------------------------- stage 0a: VAE
def vae_architecture(overrides: dict | None = None) -> dict:
    """``configs.TINY_VAE`` with ``overrides`` (the config's ``vae.model``); latents_mean / latents_std are reset
    to 0 / 1 of length z_dim when z_dim changes (training writes the measured statistics)."""
    from .configs import TINY_VAE

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


def _eval_videos(cfg, H, W) -> dict:
    """{split: uint8 (N, T, H, W, 3)} ego videos of the first ``vae.eval_clips`` clips of each eval split."""
    from benchmark.data import load_split

    vc = cfg["vae"]
    out = {}
    if not int(vc["eval_clips"]):
        return out
    for split in vc["eval_splits"]:
        clips = load_split("synth", split, root=cfg["data"]["root"], build_if_missing=False)
        vids = [clips[i].ego_video for i in range(min(int(vc["eval_clips"]), len(clips)))]
        x = torch.stack([_to_square(v, H, W) for v in vids])  # (N, 3, T, H, W) in [-1, 1]
        out[split] = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()
    return out


def _record_vae_eval(vae, videos: dict, meta: dict, step: int, progress: bool):
    """Per-frame-index PSNR (mean over clips) of each eval split into ``meta["vae_eval"]`` (one entry per step)."""
    entry = {"step": int(step), "wall_s": round(float(meta["wall_s"]), 1)}
    for split, v in videos.items():
        entry[split] = [round(float(x), 3) for x in vae_frame_psnr(vae, v).mean(0)]
    evals = [e for e in meta.get("vae_eval", []) if e["step"] != step]
    meta["vae_eval"] = sorted(evals + [entry], key=lambda e: e["step"])
    if progress:
        parts = [f"{k} min {min(entry[k]):.2f} mean {np.mean(entry[k]):.2f}" for k in videos]
        print(f"[vae eval] step {step} wall {entry['wall_s']:.0f} s: " + "; ".join(parts), flush=True)


def _train_vae(cfg, accelerator, state, meta, stop_after, progress):
    from diffusers import AutoencoderKLWan

    from .configs import TINY_TRANSFORMER, build_tiny_components

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
    clips, idx = _load_clips(cfg)
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
    evals = _eval_videos(cfg, H, W) if accelerator.is_main_process else {}
    every = int(vc["eval_every"])

    def batch_fn(step):
        if evals and every and step % every == 0 and step > 0:
            _record_vae_eval(vae, evals, meta, step, progress)
        ids = _local(batch_indices(seed, step, len(items), tc["batch_size"]), accelerator)
        g = step_generator(seed, step)
        starts = torch.randint(0, T - nf + 1, (tc["batch_size"],), generator=g).tolist()
        starts = _local(starts, accelerator)
        x = torch.stack([_to_square(items[i][1][s0:s0 + nf], H, W) for i, s0 in zip(ids, starts)])
        if crop:
            ys = _local(torch.randint(0, H - crop + 1, (tc["batch_size"],), generator=g).tolist(), accelerator)
            xs = _local(torch.randint(0, W - crop + 1, (tc["batch_size"],), generator=g).tolist(), accelerator)
            x = torch.stack([v[..., y0:y0 + crop, x0:x0 + crop] for v, y0, x0 in zip(x, ys, xs)])
        return {"x": x.to(accelerator.device), "generator": step_generator(seed, step, salt=1 + accelerator.process_index)}

    model = VAEStep(vae, vc["kl_weight"])
    finished = _run_phase(accelerator, cfg, state, model, "vae", 0, tc["steps"], tc["lr"], batch_fn, meta,
                          stop_after, progress)
    out = Path(cfg["output_dir"])
    summary = {"output_dir": str(out)}
    if finished and accelerator.is_main_process:
        vae = accelerator.unwrap_model(model).vae.eval()
        if evals:
            _record_vae_eval(vae, evals, meta, meta["step"], progress)
        # latent statistics over the first clips' full ego + exo videos
        with torch.no_grad():
            zs = []
            for i in idx[: int(vc["stats_clips"])]:
                clip = clips[i]
                vids = torch.cat([_to_square(clip.ego_video, H, W)[None], _to_square(clip.exo_video[:1], H, W)])
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


# ----------------------------------------------------------------------------------------------- stage 0b: transformer
def _train_transformer(cfg, accelerator, state, meta, stop_after, progress):
    from .pipeline import load_wan_components

    seed = cfg["seed"]
    comps = load_wan_components(cfg["backbone"], torch_dtype=torch.float32)
    clips, idx = _load_clips(cfg)
    cache = build_cache(cfg, comps, clips, idx, "foundation", accelerator)
    # items: (clip position, -1 = ego or exo view v)
    items = [(c, -1) for c in range(len(idx))] + [(c, v) for c in range(len(idx))
                                                   for v in range(cache["exo"][c].shape[0])]
    tr = comps["transformer"]
    for p in tr.parameters():
        p.requires_grad_(True)
    shift = float(comps["scheduler"].config.get("flow_shift", 3.0) or 1.0)
    empty = _text_embeds(comps, [""], cfg["flow"]["max_sequence_length"])[0]
    tc = cfg["train"]

    def batch_fn(step):
        g = step_generator(seed, step)
        B = tc["batch_size"]
        ids = batch_indices(seed, step, len(items), B)
        x0 = torch.stack([cache["ego"][c] if v < 0 else cache["exo"][c][v] for c, v in (items[i] for i in ids)])
        noise = torch.randn(x0.shape, generator=g)
        sigma = shifted_sigmas(torch.rand(B, generator=g), shift)
        drop = torch.rand(B, generator=g) < cfg["flow"]["text_dropout"]
        text = torch.stack([empty if d else cache["text"][items[i][0]] for i, d in zip(ids, drop.tolist())])
        sl = slice(*_slice(B, accelerator))
        d = accelerator.device
        return {"x0": x0[sl].to(d), "condition": x0[sl, :, :1].to(d), "text": text[sl].to(d),
                "noise": noise[sl].to(d), "sigma": sigma[sl].to(d)}

    model = FlowStep(tr)
    finished = _run_phase(accelerator, cfg, state, model, "transformer", 0, tc["steps"], tc["lr"], batch_fn, meta,
                          stop_after, progress)
    out = Path(cfg["output_dir"])
    if finished and accelerator.is_main_process:
        comps["transformer"] = accelerator.unwrap_model(model).transformer.eval()
        if out.resolve() != Path(cfg["backbone"]).resolve():
            save_backbone(comps, out)
        else:
            comps["transformer"].save_pretrained(str(out / "transformer"), safe_serialization=True)
    return finished, {"output_dir": str(out)}


def _slice(B, accelerator):
    n, r = accelerator.num_processes, accelerator.process_index
    if B % n:
        raise ValueError(f"batch_size {B} is not divisible by {n} processes")
    per = B // n
    return r * per, (r + 1) * per


# ----------------------------------------------------------------------------------------------- adapters
@torch.no_grad()
def first_frame_conditions(align, cache: dict, batch_size: int = 16) -> torch.Tensor:
    """Stage 2's first-frame condition latents (N, C, 1, h, w) of the cached clips: what inference uses in the
    exo-only track - EgoExo-Align's prediction, or (no Align) the closest exo view's encoded first frame."""
    if align is None:
        return torch.stack(cache["closest"])
    geom, n, conds = cache["geom"], len(cache["exo"]), []
    for i0 in range(0, n, batch_size):
        ids = range(i0, min(n, i0 + batch_size))
        conds.append(align(torch.stack([cache["exo"][i] for i in ids]),
                           torch.stack([geom[i]["rays_exo"] for i in ids]),
                           torch.stack([geom[i]["ego_rays0"] for i in ids]),
                           base_view=torch.stack([geom[i]["base_view"] for i in ids])))
    return torch.cat(conds)


def _train_adapters(cfg, accelerator, state, meta, stop_after, progress):
    from .configs import build_modules
    from .lora import add_lora
    from .pipeline import Exo2EgoSynPipeline, load_wan_components

    seed = cfg["seed"]
    ac = cfg["adapters"]
    comps = load_wan_components(cfg["backbone"], torch_dtype=torch.float32)
    for k in ("transformer", "vae", "text_encoder"):
        comps[k].requires_grad_(False)
    clips, idx = _load_clips(cfg)
    cache = build_cache(cfg, comps, clips, idx, "adapters", accelerator)
    mods = build_modules(comps["transformer"].config, comps["vae"].config, ac["use_align"], ac["use_multiexocon"],
                         ac["use_poseinj"], seed=ac["module_seed"])
    tc = cfg["train"]
    B = tc["batch_size"]
    n = len(idx)
    geom = cache["geom"]
    d = accelerator.device

    def gather(ids, key):
        return torch.stack([geom[i][key] for i in ids])

    s1 = int(ac["stage1_steps"]) if ac["use_align"] else 0
    finished = True
    # ---- stage 1: EgoExo-Align
    if s1:
        def batch1(step):
            ids = batch_indices(seed, step, n, B)[slice(*_slice(B, accelerator))]
            return {"exo_latents": torch.stack([cache["exo"][i] for i in ids]).to(d),
                    "rays_exo": gather(ids, "rays_exo").to(d), "ego_rays0": gather(ids, "ego_rays0").to(d),
                    "base_view": gather(ids, "base_view").to(d),
                    "target": torch.stack([cache["ego"][i][:, :1] for i in ids]).to(d)}

        align_final = Path(cfg["work_dir"]) / "align-final.safetensors"
        if meta["step"] >= s1 and align_final.is_file():  # resuming inside stage 2: stage 1 is done
            from safetensors.torch import load_file

            mods["align"].load_state_dict(load_file(str(align_final)))
        else:
            model1 = AlignStep(mods["align"], ac["cosine_weight"])
            finished = _run_phase(accelerator, cfg, state, model1, "align", 0, s1, ac["stage1_lr"], batch1, meta,
                                  stop_after, progress)
            if not finished:
                return False, {"output_dir": cfg["output_dir"]}
            mods["align"] = accelerator.unwrap_model(model1).align
            if accelerator.is_main_process:
                from safetensors.torch import save_file

                save_file({k: v.contiguous() for k, v in mods["align"].state_dict().items()}, str(align_final))
            accelerator.wait_for_everyone()
        mods["align"] = mods["align"].eval().requires_grad_(False)
    conds = first_frame_conditions(mods["align"], cache)

    # ---- stage 2: MultiExoCon + PoseInj + LoRA, flow loss
    tr = comps["transformer"]
    with torch.random.fork_rng(devices=[]):  # LoRA A init: a function of the seed only (resume-safe)
        torch.manual_seed(seed + 7)
        add_lora(tr, rank=int(ac["lora_rank"]))
    for name in ("multiexocon", "poseinj"):
        if mods[name] is not None:
            mods[name].train().requires_grad_(True)
    shift = float(comps["scheduler"].config.get("flow_shift", 3.0) or 1.0)

    def batch2(step):
        g = step_generator(seed, step)
        ids = batch_indices(seed, step, n, B)
        x0 = torch.stack([cache["ego"][i] for i in ids])
        noise = torch.randn(x0.shape, generator=g)
        sigma = shifted_sigmas(torch.rand(B, generator=g), shift)
        sl = slice(*_slice(B, accelerator))
        ids = ids[sl.start:sl.stop]
        return {"x0": x0[sl].to(d), "condition": conds[ids].to(d),
                "text": torch.stack([cache["text"][i] for i in ids]).to(d), "noise": noise[sl].to(d),
                "sigma": sigma[sl].to(d), "exo_latents": torch.stack([cache["exo"][i] for i in ids]).to(d),
                "rays_exo": gather(ids, "rays_exo").to(d), "rays_ego": gather(ids, "rays_ego").to(d)}

    model2 = FlowStep(tr, mods["multiexocon"], mods["poseinj"])
    finished = _run_phase(accelerator, cfg, state, model2, "flow", s1, int(tc["steps"]), ac["stage2_lr"], batch2,
                          meta, stop_after, progress)
    out = Path(cfg["output_dir"])
    if finished and accelerator.is_main_process:
        m2 = accelerator.unwrap_model(model2)
        pipe = Exo2EgoSynPipeline(**{**comps, "transformer": m2.transformer}, align=mods["align"],
                                  multiexocon=m2.multiexocon, poseinj=m2.poseinj)
        if out.exists():
            for sub in ("align", "multiexocon", "poseinj", "transformer_lora"):
                if (out / sub).exists():
                    shutil.rmtree(out / sub)
        pipe.save_adapters(str(out))
    return finished, {"output_dir": str(out)}


# ----------------------------------------------------------------------------------------------- reporting
def plot_losses(losses: dict, path: Path, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in losses if losses[p]]
    fig, axes = plt.subplots(1, max(1, len(phases)), figsize=(5 * max(1, len(phases)), 3.4), squeeze=False)
    for ax, p in zip(axes[0], phases):
        s, v = np.array(losses[p]).T
        ax.plot(s, v, lw=0.5, alpha=0.35, label="per step")
        k = max(1, len(v) // 20)
        if len(v) >= k:
            sm = np.convolve(v, np.ones(k) / k, mode="valid")
            ax.plot(s[k - 1:], sm, lw=1.5, label=f"mean of {k}")
        ax.set_title(f"{title} - {p}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def final_losses(losses: dict, window: int = 50) -> dict:
    return {p: float(np.mean([v for _, v in vals[-window:]])) for p, vals in losses.items() if vals}


def hardware_description() -> str:
    """One line naming the machine a training session runs on: the GPU if one is used, else the CPU model."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:  # platform.processor() is often just the architecture on Linux; the model name is in /proc/cpuinfo
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    host = f"CPU {cpu}, {os.cpu_count()} cores visible"
    if torch.cuda.is_available():
        return f"CUDA {torch.cuda.get_device_name(0)} ({host}); torch {torch.__version__}"
    return f"{host}; torch {torch.__version__}"


def _sessions_markdown(meta: dict) -> str:
    """'hardware' lines of a model card: one per training session (step it started at, machine, threads)."""
    sessions = meta.get("sessions") or []
    if not sessions:
        return "* hardware: not recorded (trained before sessions were logged)"
    return "\n".join(f"* session from step {s['from_step']}: {s['hardware']}; {s['threads']} torch thread(s), "
                     f"{s.get('processes', 1)} process(es)" for s in sessions)


def _vae_eval_markdown(meta: dict) -> str:
    """Model-card section of the VAE stage: the per-frame PSNR measured as it trained."""
    evals = meta.get("vae_eval")
    if not evals:
        return ""
    splits = [k for k in evals[-1] if k not in ("step", "wall_s")]
    last = evals[-1]
    T = len(last[splits[0]])
    lines = ["", f"Reconstruction PSNR per frame index (dB; posterior mode, whole {T}-frame ego clips encoded and "
             "decoded as the pipeline does, mean over the first clips of each split) after "
             f"{last['step']} steps:", "",
             "| frame | " + " | ".join(splits) + " |", "| --- |" + " --- |" * len(splits)]
    for t in range(T):
        lines.append(f"| {t + 1} | " + " | ".join(f"{last[k][t]:.2f}" for k in splits) + " |")
    lines += ["", "As it trained (min / mean over frame indices):", "",
              "| step | wall s | " + " | ".join(splits) + " |", "| --- | --- |" + " --- |" * len(splits)]
    for e in evals:
        lines.append(f"| {e['step']} | {e['wall_s']:.0f} | " +
                     " | ".join(f"{min(e[k]):.2f} / {np.mean(e[k]):.2f}" for k in splits) + " |")
    return "\n".join(lines) + "\n"


def write_model_card(cfg: dict, meta: dict, summary: dict):
    import yaml

    out = Path(summary["output_dir"])
    files = sorted(out.rglob("*.safetensors"))
    if cfg["stage"] == "adapters":
        files = [f for f in files if f.relative_to(out).parts[0] in ("align", "multiexocon", "poseinj",
                                                                     "transformer_lora", "transformer")]
    digests = {str(f.relative_to(out)): sha256_file(f) for f in files}
    rows = "\n".join(f"| `{f.relative_to(out)}` | {f.stat().st_size:,} | `{digests[str(f.relative_to(out))]}` |"
                     for f in files)
    from benchmark.data import load_split

    clips = load_split("synth", cfg["data"]["split"], root=cfg["data"]["root"], build_if_missing=False)
    fl = final_losses(meta["losses"])
    steps = {p: len(v) for p, v in meta["losses"].items()}
    pub = {k: v for k, v in cfg.items() if not k.startswith("_")}
    card_name = "MODEL_CARD.md" if cfg["stage"] == "adapters" else f"MODEL_CARD-{cfg['stage']}.md"
    text = f"""# {cfg['name']} ({'Exo2EgoSyn adapters' if cfg['stage'] == 'adapters' else 'tiny WAN foundation ' + cfg['stage']})

Trained by `python -m exo2egosyn train --config <config>` (`exo2egosyn/train.py`), stage `{cfg['stage']}`.

* data: SynthEgoExo `{cfg['data']['split']}` split, {len(clips) if cfg['data']['n_clips'] is None else cfg['data']['n_clips']} clips, built with seed {clips.manifest.get('seed')} (generator {clips.manifest.get('version')}), split sha256 `{clips.manifest_sha256}`
* seed: {cfg['seed']}
* steps per phase: {json.dumps(steps)}; batch size {cfg['train']['batch_size']}
* final loss (mean of the last 50 steps) per phase: {json.dumps({k: round(v, 5) for k, v in fl.items()})}
* wall time: {meta['wall_s']:.0f} s of training steps (summed over sessions)
{_sessions_markdown(meta)}
* loss curve: `loss-{cfg['name']}.png`
{_vae_eval_markdown(meta)}
| file | bytes | sha256 |
| --- | --- | --- |
{rows}

Config (resolved):

```yaml
{yaml.safe_dump(pub, sort_keys=False).strip()}
```

Honest scope: a tiny model (about 1.8M transformer parameters) trained for minutes on one CPU thread on a
synthetic dataset. It exists so that the benchmark's default path runs end to end with trained weights; it is
not a reproduction of the paper's numbers.
"""
    (out / card_name).write_text(text)
    (out / f"train-meta-{cfg['name']}.json").write_text(json.dumps(
        {"name": cfg["name"], "stage": cfg["stage"], "steps": steps, "final_loss": fl, "wall_s": meta["wall_s"],
         "files": digests, **{k: meta[k] for k in ("vae_eval", "sessions") if k in meta}}, indent=1))
