"""The one thin adapter between the model and the benchmark: ``Generator`` subclasses.

* :class:`Exo2EgoSynGenerator` - Exo2EgoSyn and its ablations (flags ``use_align``, ``use_multiexocon``,
  ``use_poseinj``); registered as ``exo2egosyn``, ``exo2egosyn-no-align``, ``exo2egosyn-no-multiexocon``,
  ``exo2egosyn-no-poseinj``.
* :class:`WanTI2VGenerator` - vanilla WAN 2.2 TI2V (``WanImageToVideoPipeline``, ``expand_timesteps``),
  conditioned on the text and on the exo view whose viewing direction is closest to the ego's (first
  frame), resized to the ego resolution; in the first-frame track, on the true ego first frame.
  Registered as ``wan2.2-ti2v``.

``backbone``: ``"tiny"`` (the shipped tiny WAN at ``exo2egosyn/checkpoints/tiny-wan/`` if present, else
freshly initialized tiny components, with a warning) or a diffusers-format WAN 2.2 folder / hub id.
``checkpoint``: a folder written by ``Exo2EgoSynPipeline.save_adapters`` (``align/``, ``multiexocon/``,
``poseinj/``, ``transformer_lora/``, optionally a full ``transformer/``) or by ``save_pretrained`` (a whole
pipeline, ``model_index.json``); default ``exo2egosyn/checkpoints/<method name>/`` when it exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np

from benchmark.errors import UsageError
from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs
from benchmark.video_ops import resize_video

from .conditioning import working_size  # noqa: F401  (public here too)

CHECKPOINT_ROOT = Path(__file__).resolve().parent / "checkpoints"
TINY_BACKBONE_DIR = CHECKPOINT_ROOT / "tiny-wan"

OFFLOAD_CHOICES = (None, "model", "sequential")
DTYPE_CHOICES = ("float32", "float16", "bfloat16", "float64")
MODULE_NAMES = ("align", "multiexocon", "poseinj")

# The tiny checkpoints are trained with ego 64 x 64 and exo 64 x 96 (configs.RESOLUTIONS["tiny"]): they work at
# those areas (max_area for the ego frame, max_exo_area for the exo views) and the output is resized to the clip's
# ego size. On SynthEgoExo (the same sizes) this changes nothing; on ExoEgo4D (ego 256 x 256, exo 480 x 270) it
# keeps the model at the resolution it learned, with 16x fewer tokens.
_TINY_DEFAULTS = dict(num_inference_steps=12, guidance_scale=1.0, max_sequence_length=64, max_area=64 * 64,
                      max_exo_area=64 * 96)
_REAL_DEFAULTS = dict(num_inference_steps=50, guidance_scale=5.0, max_sequence_length=512, max_area=704 * 1280,
                      max_exo_area=704 * 1280)


def is_trained_miniature(backbone: str) -> bool:
    """Whether ``backbone`` is a folder a foundation stage of ``python -m exo2egosyn train`` wrote (it holds a
    ``train-meta-*.json`` whose ``stage`` is ``vae`` or ``transformer``).

    Those stages build miniatures only (the tiny WAN classes at the tiny resolutions), so such a folder takes the
    shipped miniature's generation defaults; without this a retrained miniature would be run at the real model's
    704 x 1280 working area, 50 steps and guidance 5.
    """
    folder = Path(backbone)
    if not folder.is_dir():
        return False
    for meta in folder.glob("train-meta-*.json"):
        try:
            stage = json.loads(meta.read_text()).get("stage")
        except (OSError, ValueError, AttributeError):
            continue
        if stage in ("vae", "transformer"):
            return True
    return False


def method_name(use_align: bool, use_multiexocon: bool, use_poseinj: bool) -> str:
    """Registry name of a flag combination (also the default checkpoint folder name)."""
    off = [n for n, on in (("align", use_align), ("multiexocon", use_multiexocon), ("poseinj", use_poseinj)) if not on]
    return "exo2egosyn" if not off else "exo2egosyn-no-" + "-no-".join(off)


def sha256_of_files(paths) -> str | None:
    """sha256 over the (sorted) files' names and bytes; None when there are none."""
    paths = sorted(str(p) for p in paths)
    if not paths:
        return None
    h = hashlib.sha256()
    for p in paths:
        h.update(os.path.basename(p).encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _check_count(name: str, value, what: str) -> None:
    """A user's optional positive integer (``--method-arg name=N``); None means the backbone's default."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UsageError(f"{name} (--method-arg {name}=N, {what}) must be an integer >= 1 or null for the "
                         f"backbone's default, got {value!r}")


def _check_dtype(name: str, value, default: str) -> str | None:
    """A user's dtype name (``torch.`` prefix allowed) -> the plain name, None for the default; a
    :class:`UsageError` naming the argument otherwise."""
    if value is None:
        return None
    text = str(value).replace("torch.", "")
    if text not in DTYPE_CHOICES:
        raise UsageError(f"{name} (--method-arg {name}=NAME) must be one of {', '.join(DTYPE_CHOICES)} or null "
                         f"({default}), got {value!r}")
    return text


def _check_settings(num_inference_steps, guidance_scale, max_sequence_length, max_area, dtype, offload) -> None:
    """Refuse settings that cannot work before any model is loaded: a :class:`UsageError` naming the argument."""
    _check_count("num_inference_steps", num_inference_steps, "denoising steps")
    _check_count("max_sequence_length", max_sequence_length, "text tokens")
    _check_count("max_area", max_area, "pixels of the working frame")
    numeric = isinstance(guidance_scale, (int, float, np.number)) and not isinstance(guidance_scale, bool)
    if guidance_scale is not None and not (numeric and math.isfinite(guidance_scale)):
        raise UsageError(f"guidance_scale (--method-arg guidance_scale=X) must be a finite number or null for the "
                         f"backbone's default, got {guidance_scale!r}")
    _check_dtype("dtype", dtype, "float32 on CPU and for the tiny backbone, else bfloat16")
    if offload not in OFFLOAD_CHOICES:
        raise UsageError(f"offload (--method-arg offload=MODE) must be 'model' (diffusers' model CPU offload), "
                         f"'sequential' (sequential CPU offload: least memory, slowest) or null (no offload), "
                         f"got {offload!r}")


#: step caches from diffusers (``transformer.enable_cache``): name -> (its numeric argument, default)
#: (TaylorSeer with diffusers' default module patterns hooked nothing of the WAN transformer here: same video, same
#: block calls, so it is not offered until its patterns are set for WAN and measured)
CACHE_CHOICES = {"first-block": ("threshold", 0.05)}
#: ``cache=auto``. Measured with the shipped tiny model on the 32 synthetic test clips (12 steps): threshold 0.3
#: runs the last transformer block 4.75 times of 12 per clip (2.5x fewer) at a PSNR change of +0.001
#: [-0.013, +0.014] dB and SSIM +0.0045 per clip (paired, against the committed reference run); 0.2: 6.9 of 12,
#: +0.007 [+0.001, +0.012] dB
AUTO_CACHE = "first-block:0.3"


def parse_cache(cache: str | None):
    """``none`` | ``auto`` | ``first-block[:THRESHOLD]`` -> ``(name, value)`` or None (no cache);
    a :class:`UsageError` naming the argument otherwise."""
    text = "none" if cache is None else str(cache).strip().lower()
    if text in ("none", "off", ""):
        return None
    if text == "auto":  # the best measured setting (benchmarks/step_cache_quality.py): 2.5x fewer full evaluations
        text = AUTO_CACHE
    name, _, value = text.partition(":")
    if name not in CACHE_CHOICES:
        raise UsageError(f"cache (--method-arg cache=NAME[:VALUE]) must be none, auto, "
                         f"{', '.join(f'{n}[:{a}]' for n, (a, _) in CACHE_CHOICES.items())}; got {cache!r}")
    arg, default = CACHE_CHOICES[name]
    try:
        number = type(default)(value) if value else default
    except ValueError:
        raise UsageError(f"cache={cache}: {arg} of {name} must be {type(default).__name__}, got {value!r}") from None
    if number <= 0:
        raise UsageError(f"cache={cache}: {arg} of {name} must be positive")
    return name, number


def _cache_config(name: str, value):
    """The diffusers cache config object for a parsed ``cache`` setting (First Block Cache: after the first block,
    the remaining blocks are skipped and their cached residual reused while the first block's output changed by
    less than ``threshold``, relative mean absolute difference)."""
    import diffusers

    return diffusers.FirstBlockCacheConfig(threshold=float(value))


class _WanBackedGenerator(Generator):
    """Shared plumbing: backbone loading, device / dtype, working sizes, output conversion.

    Every constructor argument is annotated: the registry parses and checks ``--method-arg`` values against
    these types (``int | None``: an integer or ``null``), and the values are checked here too, so that a
    mistake is a :class:`~benchmark.errors.UsageError` naming the argument before any model is loaded.
    """

    tracks = ("exo-only", "first-frame")

    def __init__(self, backbone: str = "tiny", checkpoint: str | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, device: str = "auto", dtype: str | None = None,
                 negative_prompt: str = "", max_sequence_length: int | None = None, max_area: int | None = None,
                 offload: str | None = None, max_exo_area: int | None = None, threads: int | None = None,
                 vae_slicing: bool | None = None, vae_tiling: bool = False, cache: str = "none",
                 compile: bool = False, vae_dtype: str | None = None):
        _check_settings(num_inference_steps, guidance_scale, max_sequence_length, max_area, dtype, offload)
        self.vae_dtype = _check_dtype("vae_dtype", vae_dtype,
                                      "float32 for a real backbone, the model's dtype for the tiny one")
        self.cache = parse_cache(cache)
        self.compile = bool(compile)
        if self.compile and self.cache is not None:
            raise UsageError("compile=true and cache=... together are not supported yet (diffusers' cache hooks "
                             "wrap the blocks that regional compilation compiles; not measured together): pick one")
        _check_count("max_exo_area", max_exo_area, "pixels of a working exo frame")
        _check_count("threads", threads, "torch threads while generating")
        self.backbone = str(backbone)
        # only the word "tiny" selects the shipped tiny model: a folder called tiny-something is a user's backbone
        self.is_tiny = self.backbone == "tiny"
        # the miniature's defaults (sizes, steps, guidance, threads, dtypes) also hold for a miniature the user
        # trained with `python -m exo2egosyn train`, whatever its folder is called
        self.is_miniature = self.is_tiny or is_trained_miniature(self.backbone)
        defaults = _TINY_DEFAULTS if self.is_miniature else _REAL_DEFAULTS
        self.num_inference_steps = int(num_inference_steps or defaults["num_inference_steps"])
        self.guidance_scale = float(defaults["guidance_scale"] if guidance_scale is None else guidance_scale)
        self.max_sequence_length = int(max_sequence_length or defaults["max_sequence_length"])
        self.max_area = max_area if max_area is not None else defaults["max_area"]
        self.max_exo_area = max_exo_area if max_exo_area is not None else defaults["max_exo_area"]
        self.negative_prompt = negative_prompt
        self.requested_device = device
        self.requested_dtype = dtype
        self.offload = offload
        self.checkpoint = self._resolve_checkpoint(checkpoint)
        self.threads = threads
        self.vae_slicing = vae_slicing
        self.vae_tiling = bool(vae_tiling)
        self._pipe = None
        self._sha = None

    # -- settings
    def _default_checkpoint_name(self) -> str:
        raise NotImplementedError

    def _resolve_checkpoint(self, checkpoint):
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            if not path.is_dir():
                what = "is a file" if path.exists() else "does not exist"
                raise UsageError(f"checkpoint (--method-arg checkpoint=DIR): {str(checkpoint)!r} {what}; expected a "
                                 f"folder written by Exo2EgoSynPipeline.save_adapters or save_pretrained")
            self._check_checkpoint(str(path))
            return str(path)
        default = CHECKPOINT_ROOT / self._default_checkpoint_name()
        return str(default) if default.is_dir() else None

    def _check_checkpoint(self, folder: str) -> None:
        """Raise :class:`UsageError` if the user's checkpoint ``folder`` lacks what this method loads from it."""

    @property
    def device(self) -> str:
        import torch

        if self.requested_device in (None, "auto"):
            return "cuda" if torch.cuda.is_available() else "cpu"
        return str(self.requested_device)

    @property
    def generation_threads(self) -> int | None:
        """Torch intra-op threads inside :meth:`generate`: ``threads`` when given; 1 for a miniature on the CPU
        (its ops are too small to share: measured by ``benchmarks/main_command_phases.py``, and on a busy machine
        several threads' spinning makes a clip many times slower); None (torch's own setting) otherwise. It does not
        change the video beyond the thread-count spread that ``leaderboard/tolerances.json`` records, so it is not
        part of :meth:`config`."""
        if self.threads is not None:
            return int(self.threads)
        return 1 if self.is_miniature and self.device == "cpu" else None

    @property
    def use_vae_slicing(self) -> bool:
        """Encode (and decode) one video of a batch at a time (diffusers' ``AutoencoderKLWan.enable_slicing``):
        the exo views of a clip go through the VAE one by one instead of all at once, so the VAE's activations
        are those of one view (the conditioning's peak memory). ``vae_slicing`` when given; by default on for a
        real backbone on CUDA, off for a miniature (whose four views fit easily and run faster together).
        The latents are those of the batched call up to float rounding (tested), so, like ``threads``, it is not
        part of :meth:`config`; ``vae_tiling`` (diffusers' spatial tiles, for frames too large for one pass)
        is, because tiles blend at their seams and change the latents."""
        if self.vae_slicing is not None:
            return bool(self.vae_slicing)
        return not self.is_miniature and self.device.startswith("cuda")

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        """The ego video ``(T, H, W, 3)`` uint8 for ``inputs``, with :attr:`generation_threads` torch threads."""
        from benchmark.threads import torch_threads

        n = self.generation_threads
        if n is None:
            return self._generate(inputs, seed=seed)
        with torch_threads(n):
            return self._generate(inputs, seed=seed)

    def _generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @property
    def torch_dtype(self):
        import torch

        if self.requested_dtype is not None:
            return getattr(torch, str(self.requested_dtype).replace("torch.", ""))
        return torch.bfloat16 if (not self.is_miniature and self.device.startswith("cuda")) else torch.float32

    @property
    def vae_torch_dtype(self):
        """The VAE's dtype: ``vae_dtype`` when given; else float32 for a real backbone (WAN's recommendation for
        quality) and the model's dtype for a miniature."""
        import torch

        if self.vae_dtype is not None:
            return getattr(torch, self.vae_dtype)
        return self.torch_dtype if self.is_miniature else torch.float32

    def _backbone_dir(self):
        if self.is_tiny:
            return str(TINY_BACKBONE_DIR) if (TINY_BACKBONE_DIR / "model_index.json").is_file() else None
        return self.backbone

    def _load_backbone(self) -> dict:

        from .configs import build_tiny_components
        from .pipeline import load_wan_components

        src = self._backbone_dir()
        if src is None:
            warnings.warn("exo2egosyn: no shipped tiny backbone at exo2egosyn/checkpoints/tiny-wan/; using freshly "
                          "initialized (untrained) tiny WAN components - outputs are noise-like", stacklevel=3)
            comps = build_tiny_components(seed=0)
            for k in ("transformer", "text_encoder"):
                comps[k].to(dtype=self.torch_dtype)
            comps["vae"].to(dtype=self.vae_torch_dtype)
            return comps
        return load_wan_components(src, torch_dtype=self.torch_dtype, vae_dtype=self.vae_torch_dtype,
                                   text_encoder_dtype=self.torch_dtype)

    def _place(self, pipe):
        pipe.set_progress_bar_config(disable=True)
        if self.use_vae_slicing:
            pipe.vae.enable_slicing()
        if self.vae_tiling:
            pipe.vae.enable_tiling()
        if self.cache is not None:
            pipe.transformer.enable_cache(_cache_config(*self.cache))
        if self.compile:
            # regional compilation: each repeated WanTransformerBlock is compiled once and reused (diffusers'
            # compile_repeated_blocks); the first clip pays the compilation (31 s for the tiny model on this CPU)
            pipe.transformer.compile_repeated_blocks(fullgraph=True)
        if self.offload == "model":
            pipe.enable_model_cpu_offload(device=self.device)
        elif self.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        return pipe

    def _backbone_files_dir(self) -> str | None:
        """Folder whose weight files are the backbone: the shipped tiny folder, a local WAN folder, or the local
        snapshot of a hub id (None when the hub id is not downloaded here or the tiny weights are fresh)."""
        if self.is_tiny:
            return self._backbone_dir()
        if Path(self.backbone).is_dir():
            return self.backbone
        try:  # a hub id: its downloaded snapshot, never a download
            from huggingface_hub import snapshot_download

            return snapshot_download(self.backbone, local_files_only=True)
        except Exception:  # not downloaded, or not a hub id: nothing local to hash
            return None

    def _safetensors_used(self) -> list:
        """Every weight file the generator loads: the checkpoint's and the backbone's (tiny or real), so that a
        result names the exact weights it came from (a 5B backbone is ~20 GB: hashing it takes ~1 minute once
        per run)."""
        files = []
        for root in (self.checkpoint, self._backbone_files_dir()):
            if root:
                files += [str(p) for p in Path(root).rglob("*.safetensors")]
        return files

    def checkpoint_sha256(self):
        if self._sha is None:
            self._sha = sha256_of_files(self._safetensors_used())
        return self._sha

    def config(self) -> dict:
        return {
            "backbone": self.backbone,
            "backbone_dir": self._backbone_dir(),
            "checkpoint": self.checkpoint,
            "trained": self.checkpoint is not None,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "negative_prompt": self.negative_prompt,
            "max_sequence_length": self.max_sequence_length,
            "max_area": self.max_area,
            "max_exo_area": self.max_exo_area,
            "device": self.device,
            "dtype": str(self.torch_dtype).replace("torch.", ""),
            "offload": self.offload,
            **({"vae_tiling": True} if self.vae_tiling else {}),  # only when on: older results stay comparable
            **({"cache": f"{self.cache[0]}:{self.cache[1]}"} if self.cache else {}),
            **({"compile": True} if self.compile else {}),  # fused kernels may move GPU results by rounding
            **({"vae_dtype": self.vae_dtype} if self.vae_dtype is not None else {}),
        }

    # -- sizes and conversions
    def _sizes(self, pipe, inputs: ExoEgoInputs):
        """The clip's :class:`~exo2egosyn.conditioning.GenerationSizes` under this generator's area caps."""
        from .conditioning import generation_sizes

        return generation_sizes((inputs.ego_height, inputs.ego_width), inputs.exo_video.shape[2:4],
                                inputs.num_frames, spatial_factor=pipe.vae_scale_factor_spatial,
                                patch_size=pipe.transformer.config.patch_size,
                                temporal_factor=pipe.vae_scale_factor_temporal, max_area=self.max_area,
                                max_exo_area=self.max_exo_area)

    def _to_output(self, frames: np.ndarray, inputs: ExoEgoInputs) -> np.ndarray:
        """float [0, 1] (T', h, w, 3) -> uint8 (T, H, W, 3) at the clip's ego resolution."""
        video = np.clip(np.round(frames[: inputs.num_frames] * 255.0), 0, 255).astype(np.uint8)
        return resize_video(video, inputs.ego_height, inputs.ego_width)

    def _seeded(self, seed: int):
        import torch

        return torch.Generator(device="cpu").manual_seed(int(seed))


class Exo2EgoSynGenerator(_WanBackedGenerator):
    """Exo2EgoSyn (WAN 2.2 TI2V + EgoExo-Align + MultiExoCon + PoseInj); flags select the ablations."""

    def __init__(self, backbone: str = "tiny", checkpoint: str | None = None, use_align: bool = True,
                 use_multiexocon: bool = True, use_poseinj: bool = True, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, device: str = "auto", dtype: str | None = None,
                 negative_prompt: str = "", max_sequence_length: int | None = None, max_area: int | None = None,
                 offload: str | None = None, module_seed: int = 0, max_exo_area: int | None = None,
                 threads: int | None = None, vae_slicing: bool | None = None, vae_tiling: bool = False,
                 exo_latent_cache: str | None = None, cache: str = "none", compile: bool = False,
                 vae_dtype: str | None = None):
        self.use_align = bool(use_align)
        # on-disk cache of the exo views' latents (a folder, "auto" = <benchmark cache>/exo-latents, None = off):
        # the ablations and reruns encode the same exo videos with the same VAE; a hit is the stored latents bit
        # for bit, so it changes no number and is not part of config()
        self.exo_latent_cache = exo_latent_cache
        self.use_multiexocon = bool(use_multiexocon)
        self.use_poseinj = bool(use_poseinj)
        if isinstance(module_seed, bool) or not isinstance(module_seed, (int, np.integer)):
            raise UsageError(f"module_seed (--method-arg module_seed=N) must be an integer, got {module_seed!r}")
        self.module_seed = int(module_seed)
        super().__init__(backbone, checkpoint, num_inference_steps, guidance_scale, device, dtype, negative_prompt,
                         max_sequence_length, max_area, offload, max_exo_area, threads, vae_slicing, vae_tiling,
                         cache, compile, vae_dtype)

    def _default_checkpoint_name(self) -> str:
        return method_name(self.use_align, self.use_multiexocon, self.use_poseinj)

    def _enabled_modules(self) -> list:
        return [name for name in MODULE_NAMES if getattr(self, f"use_{name}")]

    def _check_checkpoint(self, folder: str) -> None:
        """Every enabled module must be in the folder: a ``<module>/`` sub-folder (``save_adapters``), or an
        entry of ``model_index.json`` (``save_pretrained``). Checked now, not after loading the backbone."""
        index_file = os.path.join(folder, "model_index.json")
        if os.path.isfile(index_file):
            try:
                with open(index_file) as f:
                    index = json.load(f)
            except (OSError, ValueError) as exc:
                raise UsageError(f"checkpoint (--method-arg checkpoint=DIR): cannot read {index_file}: {exc}") from exc
            missing = [n for n in self._enabled_modules() if not (index.get(n) or [None])[0]]
            where = f"model_index.json of {folder}"
        else:
            missing = [n for n in self._enabled_modules() if not os.path.isdir(os.path.join(folder, n))]
            where = f"{folder} (no {', '.join(f'{n}/' for n in missing)} sub-folder)"
        if missing:
            flags = ", ".join(f"use_{n}=True" for n in missing)
            raise UsageError(
                f"checkpoint (--method-arg checkpoint=DIR) has no {', '.join(missing)} module but {flags}: not in "
                f"{where}; pass a checkpoint trained with these modules, or turn them off with "
                + " ".join(f"--method-arg use_{n}=false" for n in missing))

    @property
    def pipeline(self):
        if self._pipe is None:
            self._pipe = self._place(self._build_pipeline())
            self._pipe.exo_latent_cache = self.exo_latent_cache_dir
        return self._pipe

    @property
    def exo_latent_cache_dir(self) -> str | None:
        if self.exo_latent_cache in (None, "", "none", "off"):
            return None
        if self.exo_latent_cache == "auto":
            from benchmark.data.loading import default_cache_dir

            return str(default_cache_dir() / "exo-latents")
        return str(Path(self.exo_latent_cache).expanduser())

    def _build_pipeline(self):
        from .configs import build_modules
        from .pipeline import SAFE_WEIGHTS, Exo2EgoSynPipeline

        ckpt = self.checkpoint
        if ckpt is not None and os.path.isfile(os.path.join(ckpt, "model_index.json")):
            pipe = Exo2EgoSynPipeline.from_pretrained(ckpt, torch_dtype=self.torch_dtype, **SAFE_WEIGHTS)
            for name, on in (("align", self.use_align), ("multiexocon", self.use_multiexocon),
                             ("poseinj", self.use_poseinj)):
                if not on:
                    pipe.register_modules(**{name: None})
                elif getattr(pipe, name, None) is None:
                    raise UsageError(f"checkpoint (--method-arg checkpoint=DIR) {ckpt} has no {name} module but "
                                     f"use_{name}=True; pass --method-arg use_{name}=false or another checkpoint")
            return pipe
        comps = self._load_backbone()
        modules = build_modules(comps["transformer"].config, comps["vae"].config, self.use_align,
                                self.use_multiexocon, self.use_poseinj, seed=self.module_seed)
        for m in modules.values():
            if m is not None and m.dtype != self.torch_dtype:
                m.to(dtype=self.torch_dtype)
        pipe = Exo2EgoSynPipeline(**comps, **modules)
        if ckpt is None:
            warnings.warn(f"exo2egosyn: no checkpoint for {self._default_checkpoint_name()!r} (looked in "
                          f"{CHECKPOINT_ROOT}); using initial module weights (config 'trained': False)", stacklevel=3)
        else:
            pipe.load_adapters(ckpt, strict_modules=True)
        return pipe

    def config(self) -> dict:
        cfg = super().config()
        cfg.update(use_align=self.use_align, use_multiexocon=self.use_multiexocon, use_poseinj=self.use_poseinj,
                   module_seed=self.module_seed)
        return cfg

    def _generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        import PIL.Image

        from .conditioning import clip_inputs

        pipe = self.pipeline
        sizes = self._sizes(pipe, inputs)
        h, w, n = sizes.height, sizes.width, sizes.num_frames
        clip = clip_inputs(inputs, sizes)  # the function training builds its inputs with
        image = None
        if inputs.track == "first-frame" and inputs.ego_first_frame is not None:
            image = PIL.Image.fromarray(resize_video(inputs.ego_first_frame, h, w))
        out = pipe(prompt=inputs.text or "", negative_prompt=self.negative_prompt or None,
                   exo_video=clip.exo_video, exo_K=clip.exo_K, exo_T_world_cam=clip.exo_T_world_cam,
                   ego_K=clip.ego_K, ego_T_world_cam=clip.ego_T_world_cam, image=image, height=h, width=w,
                   num_frames=n, num_inference_steps=self.num_inference_steps, guidance_scale=self.guidance_scale,
                   generator=self._seeded(seed), max_sequence_length=self.max_sequence_length, output_type="np")
        return self._to_output(out.frames[0], inputs)


class WanTI2VGenerator(_WanBackedGenerator):
    """Vanilla WAN 2.2 TI2V conditioned on the text and the closest exo view's first frame (see module doc)."""

    def _default_checkpoint_name(self) -> str:
        return "wan2.2-ti2v"

    def _check_checkpoint(self, folder: str) -> None:
        """A fine-tuned WAN baseline: the folder must hold a full ``transformer/`` or a ``transformer_lora/``."""
        if not any(os.path.isdir(os.path.join(folder, sub)) for sub in ("transformer", "transformer_lora")):
            raise UsageError(f"checkpoint (--method-arg checkpoint=DIR) {folder} holds neither transformer/ nor "
                             f"transformer_lora/: nothing of vanilla WAN would be loaded from it")

    @property
    def pipeline(self):
        if self._pipe is None:
            from diffusers import WanImageToVideoPipeline

            comps = self._load_backbone()
            if self.checkpoint is not None:  # a fine-tuned baseline: full transformer and / or LoRA
                from .pipeline import Exo2EgoSynPipeline

                tmp = Exo2EgoSynPipeline(**comps).load_adapters(self.checkpoint)
                comps["transformer"] = tmp.transformer
            pipe = WanImageToVideoPipeline(**comps, expand_timesteps=True)
            self._pipe = self._place(pipe)
        return self._pipe

    def _generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        import PIL.Image

        pipe = self.pipeline
        sizes = self._sizes(pipe, inputs)
        h, w, n = sizes.height, sizes.width, sizes.num_frames
        if inputs.track == "first-frame" and inputs.ego_first_frame is not None:
            frame = inputs.ego_first_frame
        else:
            frame = inputs.exo_video[inputs.closest_exo_view(frame=0), 0]
        image = PIL.Image.fromarray(resize_video(frame, h, w))
        prompt = inputs.text or ""
        # diffusers' WAN prompt cleaning needs ftfy (optional); encode with our equivalent encode_prompt instead
        if getattr(self, "_text_pipe", None) is None:
            from .pipeline import Exo2EgoSynPipeline

            self._text_pipe = Exo2EgoSynPipeline(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder,
                                                 vae=pipe.vae, scheduler=pipe.scheduler, transformer=pipe.transformer)
        device = pipe._execution_device
        pe, ne = self._text_pipe.encode_prompt(prompt, self.negative_prompt or None, self.guidance_scale > 1,
                                   max_sequence_length=self.max_sequence_length, device=device)
        out = pipe(image=image, prompt_embeds=pe, negative_prompt_embeds=ne, height=h, width=w, num_frames=n,
                   num_inference_steps=self.num_inference_steps, guidance_scale=self.guidance_scale,
                   generator=self._seeded(seed), output_type="np")
        return self._to_output(out.frames[0], inputs)
