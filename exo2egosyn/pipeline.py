"""Exo2EgoSyn pipeline on diffusers' WAN 2.2 TI2V (``expand_timesteps`` image conditioning).

The pipeline reads like ``WanImageToVideoPipeline`` with ``expand_timesteps=True``, plus one step:

1. ``check_inputs``
2. ``encode_prompt``                         (UMT5, as in WAN)
3. ``scheduler.set_timesteps``
4. ``prepare_latents``                       (Gaussian noise, drawn exactly as WAN draws it)
5. ``prepare_conditions``                    (the Exo2EgoSyn part)
     - first-frame condition latent: the true ego first frame (``image``, first-frame track), else
       EgoExo-Align's prediction from the exo first-frame latents, else (no Align) the exo view closest to
       the ego's viewing direction, resized to the ego resolution (what vanilla WAN would be given);
     - ``injection``: MultiExoCon(exo video latents, exo rays) + PoseInj(ego rays in exo frames), shape
       (B, inner, T', H', W'), added to ``transformer.patch_embedding``'s output by a forward hook
       (:func:`patch_embedding_addition`), computed once per clip, not once per step.
6. denoising loop: ``x = (1 - mask) * condition + mask * x`` with the first latent frame's tokens at
   timestep 0 (WAN 2.2 TI2V), ``predict_noise`` = transformer + injection, optional text CFG.
7. decode with the WAN VAE.

With MultiExoCon and PoseInj freshly initialized (zero output projections) and the same first frame,
the output equals vanilla ``WanImageToVideoPipeline(expand_timesteps=True)`` for the same seed.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import regex as re
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.pipelines.wan.pipeline_output import WanPipelineOutput
from diffusers.utils import is_ftfy_available, logging
from diffusers.utils.torch_utils import get_module_execution_device, randn_tensor
from diffusers.video_processor import VideoProcessor

from benchmark.errors import UsageError

from . import conditioning
from .align import EgoExoAlign
from .conditioning import video_to_tensor  # noqa: F401  (public here too)
from .multiexocon import MultiExoCon
from .poseinj import PoseInj

logger = logging.get_logger(__name__)

if is_ftfy_available():
    import ftfy


def prompt_clean(text: str) -> str:
    """WAN's prompt cleaning (ftfy when installed, html unescape, whitespace)."""
    if is_ftfy_available():
        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


@contextlib.contextmanager
def patch_embedding_addition(transformer, injection: torch.Tensor | None):
    """While active, ``transformer.patch_embedding(x)`` returns ``patch_embedding(x) + injection``.

    ``injection``: (B, inner, T', H', W'), the shape of the patch embedding's output (before WAN flattens
    it into tokens). Equivalent to widening ``patch_embedding`` with extra zero-initialized input channels,
    without touching the pretrained module (its weights, config and LoRA stay WAN's).
    """
    if injection is None:
        yield
        return

    def hook(module, args, output):
        return output + injection.to(device=output.device, dtype=output.dtype)

    handle = transformer.patch_embedding.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@dataclass
class Exo2EgoSynConditions:
    """What ``prepare_conditions`` returns (all on the execution device).

    condition (B, C, 1, h, w) first-frame latent; first_frame_mask (1, 1, T', h, w) (0 on latent frame 0);
    injection (B, inner, T', H', W') or None; base_view (B,) closest exo view or None;
    exo_latents (B, V, C, T', hx, wx) or None; first_frame_source: "image" | "latent" | "align" | "closest-exo";
    exo: the whole :class:`~exo2egosyn.conditioning.ExoConditioning` (rays, view mask), or None when nothing needed
    the exo views.
    """

    condition: torch.Tensor
    first_frame_mask: torch.Tensor
    injection: torch.Tensor | None = None
    base_view: torch.Tensor | None = None
    exo_latents: torch.Tensor | None = None
    first_frame_source: str = "image"
    exo: conditioning.ExoConditioning | None = None


# Weights are read only from safetensors files: a pickled checkpoint (.bin / .pt) can run code when loaded,
# and checkpoints come from other people. diffusers and transformers raise if a folder has no safetensors file.
SAFE_WEIGHTS = {"use_safetensors": True}


def load_wan_components(path, torch_dtype=torch.bfloat16, vae_dtype=torch.float32, text_encoder_dtype=None,
                        **load_kwargs) -> dict:
    """WAN components from a diffusers-format folder (or hub id): transformer, vae, text_encoder, tokenizer,
    scheduler - the layout of ``Wan-AI/Wan2.2-TI2V-5B-Diffusers`` and of the shipped tiny backbone."""
    import json

    import diffusers
    from transformers import AutoTokenizer, UMT5EncoderModel

    transformer = WanTransformer3DModel.from_pretrained(path, subfolder="transformer", torch_dtype=torch_dtype,
                                                        **SAFE_WEIGHTS, **load_kwargs)
    vae = AutoencoderKLWan.from_pretrained(path, subfolder="vae", torch_dtype=vae_dtype, **SAFE_WEIGHTS, **load_kwargs)
    text_encoder = UMT5EncoderModel.from_pretrained(path, subfolder="text_encoder",
                                                    torch_dtype=text_encoder_dtype or torch_dtype, **SAFE_WEIGHTS,
                                                    **load_kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path, subfolder="tokenizer", **load_kwargs)
    scheduler_cls = diffusers.UniPCMultistepScheduler
    local_cfg = os.path.join(str(path), "scheduler", "scheduler_config.json")
    if os.path.isfile(local_cfg):
        with open(local_cfg) as f:
            scheduler_cls = getattr(diffusers, json.load(f).get("_class_name", "UniPCMultistepScheduler"))
    scheduler = scheduler_cls.from_pretrained(path, subfolder="scheduler", **load_kwargs)
    return dict(transformer=transformer.eval(), vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tokenizer,
                scheduler=scheduler)


class Exo2EgoSynPipeline(DiffusionPipeline):
    r"""Exocentric-to-egocentric video synthesis on WAN 2.2 TI2V.

    Components: ``tokenizer``, ``text_encoder`` (UMT5), ``vae`` (``AutoencoderKLWan``), ``scheduler``,
    ``transformer`` (``WanTransformer3DModel``), and the optional modules ``align`` (:class:`EgoExoAlign`),
    ``multiexocon`` (:class:`MultiExoCon`), ``poseinj`` (:class:`PoseInj`); ``None`` disables a module.
    """

    model_cpu_offload_seq = "text_encoder->align->multiexocon->poseinj->transformer->vae"
    _optional_components = ["align", "multiexocon", "poseinj"]
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        tokenizer,
        text_encoder,
        vae: AutoencoderKLWan,
        scheduler,
        transformer: WanTransformer3DModel,
        align: EgoExoAlign | None = None,
        multiexocon: MultiExoCon | None = None,
        poseinj: PoseInj | None = None,
    ):
        super().__init__()
        self.register_modules(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer,
            align=align, multiexocon=multiexocon, poseinj=poseinj,
        )
        self.vae_scale_factor_temporal = self.vae.config.scale_factor_temporal if getattr(self, "vae", None) else 4
        self.vae_scale_factor_spatial = self.vae.config.scale_factor_spatial if getattr(self, "vae", None) else 8
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor_spatial)
        #: folder of the on-disk exo-latent cache (None: off); see :meth:`encode_exo_views`
        self.exo_latent_cache = None
        self._vae_identity = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_wan(cls, wan_pipe, use_align: bool = True, use_multiexocon: bool = True, use_poseinj: bool = True,
                 module_scale: str = "auto", seed: int | None = 0, module_overrides: dict | None = None,
                 scheduler=None):
        """Wrap the components of a WAN pipeline (e.g. ``WanImageToVideoPipeline``) with fresh modules."""
        from .configs import build_modules

        tr = wan_pipe.transformer
        modules = build_modules(tr.config, wan_pipe.vae.config, use_align, use_multiexocon, use_poseinj,
                                scale=module_scale, seed=seed, overrides=module_overrides)
        for m in modules.values():
            if m is not None:
                m.to(tr.device) if m.dtype == tr.dtype else m.to(device=tr.device, dtype=tr.dtype)
        return cls(tokenizer=wan_pipe.tokenizer, text_encoder=wan_pipe.text_encoder, vae=wan_pipe.vae,
                   scheduler=scheduler or wan_pipe.scheduler, transformer=tr, **modules)

    @classmethod
    def from_wan_pretrained(cls, pretrained_model_name_or_path, torch_dtype=torch.bfloat16,
                            vae_dtype=torch.float32, text_encoder_dtype=None, device=None, offload: str | None = None,
                            use_align: bool = True, use_multiexocon: bool = True, use_poseinj: bool = True,
                            module_dtype=None, module_scale: str = "auto", **load_kwargs):
        """Real weights: a local diffusers-format Wan2.2-TI2V-5B folder (or a hub id where there is a network).

        ``torch_dtype`` for the transformer (bf16), ``vae_dtype`` (fp32 recommended), ``device`` ("cuda",
        ...), ``offload``: None (move everything to ``device``), ``"model"`` (``enable_model_cpu_offload``)
        or ``"sequential"`` (``enable_sequential_cpu_offload``, lowest memory, slowest).
        """
        from .configs import build_modules

        if offload not in (None, "model", "sequential"):  # refused before gigabytes of weights are read
            raise UsageError(f"offload must be None (move everything to `device`), 'model' (model CPU offload) or "
                             f"'sequential' (sequential CPU offload: least memory, slowest), got {offload!r}")
        comps = load_wan_components(pretrained_model_name_or_path, torch_dtype=torch_dtype, vae_dtype=vae_dtype,
                                    text_encoder_dtype=text_encoder_dtype, **load_kwargs)
        transformer, vae = comps["transformer"], comps["vae"]
        modules = build_modules(transformer.config, vae.config, use_align, use_multiexocon, use_poseinj,
                                scale=module_scale)
        for m in modules.values():
            if m is not None and m.dtype != (module_dtype or torch_dtype):
                m.to(dtype=module_dtype or torch_dtype)
        pipe = cls(**comps, **modules)
        if offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        elif device is not None:
            pipe.to(device)
        return pipe

    # ------------------------------------------------------------------ adapters (modules + LoRA)
    def save_adapters(self, folder: str) -> list:
        """Write the trainable parts: ``align/``, ``multiexocon/``, ``poseinj/`` (safetensors + config) and the
        transformer's LoRA (``transformer_lora/``) if it has one. Returns the files written."""
        from .lora import save_lora

        os.makedirs(folder, exist_ok=True)
        for name in ("align", "multiexocon", "poseinj"):
            module = getattr(self, name, None)
            if module is not None:
                module.save_pretrained(os.path.join(folder, name))
        if getattr(self.transformer, "peft_config", None):
            save_lora(self.transformer, os.path.join(folder, "transformer_lora"))
        return sorted(os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs)

    def load_adapters(self, folder: str, strict_modules: bool = False):
        """Load what :meth:`save_adapters` wrote (and a full ``transformer/`` if the folder has one).

        Modules present in the folder replace the pipeline's; with ``strict_modules``, a module enabled in
        the pipeline but absent from the folder is a :class:`~benchmark.errors.UsageError`, raised before
        anything is loaded.
        """
        from .lora import load_lora

        classes = {"align": EgoExoAlign, "multiexocon": MultiExoCon, "poseinj": PoseInj}
        missing = [name for name in classes if getattr(self, name, None) is not None
                   and not os.path.isdir(os.path.join(folder, name))]
        if strict_modules and missing:  # refused before anything is loaded: the pipeline is left as it was
            raise UsageError(f"checkpoint {folder} has no {', '.join(f'{n}/' for n in missing)} sub-folder but the "
                             f"pipeline's {', '.join(missing)} module is enabled; pass a checkpoint trained with "
                             f"it, or disable the module")
        dev = self.transformer.device
        if os.path.isdir(os.path.join(folder, "transformer")):
            dtype = self.transformer.dtype
            self.register_modules(transformer=WanTransformer3DModel.from_pretrained(
                os.path.join(folder, "transformer"), torch_dtype=dtype, **SAFE_WEIGHTS).to(dev))
        for name, klass in classes.items():
            sub = os.path.join(folder, name)
            current = getattr(self, name, None)
            if os.path.isdir(sub):
                if current is None:
                    continue  # disabled in this pipeline (an ablation reading a shared folder)
                self.register_modules(**{name: klass.from_pretrained(sub, torch_dtype=current.dtype,
                                                                     **SAFE_WEIGHTS).to(dev)})
        if os.path.isdir(os.path.join(folder, "transformer_lora")):
            load_lora(self.transformer, os.path.join(folder, "transformer_lora"))
        return self

    # ------------------------------------------------------------------ 1. inputs
    def check_inputs(self, prompt, negative_prompt, image, first_frame_latent, exo_video, exo_K, exo_T_world_cam,
                     ego_K, ego_T_world_cam, height, width, prompt_embeds=None, negative_prompt_embeds=None,
                     callback_on_step_end_tensor_inputs=None):
        p = self.transformer.config.patch_size
        multiple = (self.vae_scale_factor_spatial * p[1], self.vae_scale_factor_spatial * p[2])
        if height % multiple[0] or width % multiple[1]:
            raise ValueError(f"height and width must be multiples of {multiple}, got {height}x{width}")
        if image is not None and first_frame_latent is not None:
            raise ValueError("pass either `image` or `first_frame_latent`, not both")
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("pass either `prompt` or `prompt_embeds`, not both")
        if prompt is None and prompt_embeds is None:
            raise ValueError("provide `prompt` or `prompt_embeds`")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("pass either `negative_prompt` or `negative_prompt_embeds`, not both")
        needs_exo = (self.multiexocon is not None or self.poseinj is not None
                     or (image is None and first_frame_latent is None))
        if needs_exo:
            missing = [n for n, v in (("exo_video", exo_video), ("exo_K", exo_K),
                                      ("exo_T_world_cam", exo_T_world_cam), ("ego_K", ego_K),
                                      ("ego_T_world_cam", ego_T_world_cam)) if v is None]
            if missing:
                raise ValueError(f"these inputs are needed by the enabled modules / exo-only track: {missing}")
        if callback_on_step_end_tensor_inputs is not None and not all(
                k in self._callback_tensor_inputs for k in callback_on_step_end_tensor_inputs):
            raise ValueError(f"callback_on_step_end_tensor_inputs must be among {self._callback_tensor_inputs}")

    # ------------------------------------------------------------------ 2. prompt
    def _get_t5_prompt_embeds(self, prompt, num_videos_per_prompt=1, max_sequence_length=512, device=None,
                              dtype=None):
        device = device or self._execution_device
        dtype = dtype or self.text_encoder.dtype
        prompt = [prompt] if isinstance(prompt, str) else prompt
        prompt = [prompt_clean(u) for u in prompt]
        batch_size = len(prompt)
        text_inputs = self.tokenizer(prompt, padding="max_length", max_length=max_sequence_length, truncation=True,
                                     add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        ids, mask = text_inputs.input_ids, text_inputs.attention_mask
        seq_lens = mask.gt(0).sum(dim=1).long()
        model_device = get_module_execution_device(self.text_encoder)
        embeds = self.text_encoder(ids.to(model_device), mask.to(model_device)).last_hidden_state
        embeds = embeds.to(dtype=dtype, device=device)
        embeds = [u[:v] for u, v in zip(embeds, seq_lens)]
        embeds = torch.stack([torch.cat([u, u.new_zeros(max_sequence_length - u.size(0), u.size(1))]) for u in embeds])
        _, seq_len, _ = embeds.shape
        embeds = embeds.repeat(1, num_videos_per_prompt, 1)
        return embeds.view(batch_size * num_videos_per_prompt, seq_len, -1)

    def encode_prompt(self, prompt, negative_prompt=None, do_classifier_free_guidance=True, num_videos_per_prompt=1,
                      prompt_embeds=None, negative_prompt_embeds=None, max_sequence_length=512, device=None,
                      dtype=None):
        """Text embeddings (B, L, text_dim) for the prompt and, with guidance, the negative prompt (as WAN)."""
        device = device or self._execution_device
        prompt = [prompt] if isinstance(prompt, str) else prompt
        batch_size = len(prompt) if prompt is not None else prompt_embeds.shape[0]
        if prompt_embeds is None:
            prompt_embeds = self._get_t5_prompt_embeds(prompt, num_videos_per_prompt, max_sequence_length, device,
                                                       dtype)
        if do_classifier_free_guidance and negative_prompt_embeds is None:
            negative_prompt = negative_prompt or ""
            negative_prompt = batch_size * [negative_prompt] if isinstance(negative_prompt, str) else negative_prompt
            if batch_size != len(negative_prompt):
                raise ValueError(f"negative_prompt has {len(negative_prompt)} entries for a batch of {batch_size}")
            negative_prompt_embeds = self._get_t5_prompt_embeds(negative_prompt, num_videos_per_prompt,
                                                                max_sequence_length, device, dtype)
        return prompt_embeds, negative_prompt_embeds

    # ------------------------------------------------------------------ 4. latents
    def prepare_latents(self, batch_size, num_channels_latents, height, width, num_frames, dtype, device, generator,
                        latents=None):
        """Initial noise (B, C, T', h, w), drawn with ``randn_tensor`` exactly as WAN draws it."""
        num_latent_frames = (num_frames - 1) // self.vae_scale_factor_temporal + 1
        shape = (batch_size, num_channels_latents, num_latent_frames, height // self.vae_scale_factor_spatial,
                 width // self.vae_scale_factor_spatial)
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(f"got {len(generator)} generators for a batch of {batch_size}")
        if latents is None:
            return randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        return latents.to(device=device, dtype=dtype)

    def encode_video(self, video: torch.Tensor, device=None, dtype=torch.float32) -> torch.Tensor:
        """Normalized WAN latents of videos (N, 3, T, H, W) in [-1, 1]: :func:`conditioning.encode_normalized`."""
        return conditioning.encode_normalized(self.vae, video, device=device or self._execution_device, dtype=dtype)

    def vae_identity(self) -> str:
        """:func:`conditioning.vae_identity` of this pipeline's VAE, computed once: the exo-latent cache's key part
        that says which encoder made a latent."""
        if self._vae_identity is None:
            self._vae_identity = conditioning.vae_identity(self.vae)
        return self._vae_identity

    def encode_exo_views(self, clips: torch.Tensor, device=None) -> torch.Tensor:
        """:meth:`encode_video` of the exo views ``(N, 3, T, H, W)``, through the on-disk cache when
        :attr:`exo_latent_cache` is a folder.

        Every method that encodes the same exo videos with the same VAE gets the same latents (the ablations, a
        rerun, another seed), so they are stored once per clip under a content key: sha256 of the exact VAE input
        (values, shape, dtype) and of :meth:`vae_identity`. A hit returns the stored latents bit for bit; a miss
        encodes and writes atomically (a half-written file is never read).
        """
        if self.exo_latent_cache is None:
            return self.encode_video(clips, device=device)
        device = device or self._execution_device
        x = clips.detach().to(device="cpu", dtype=self.vae.dtype).contiguous()
        h = hashlib.sha256(self.vae_identity().encode())
        h.update(json.dumps([list(x.shape), str(x.dtype)]).encode())
        h.update(x.view(torch.uint8).numpy().tobytes())  # raw bytes, whatever the dtype (numpy has no bfloat16)
        path = Path(self.exo_latent_cache) / f"exo-{h.hexdigest()[:32]}.pt"
        if path.is_file():
            return torch.load(path, weights_only=True).to(device=device)
        latents = self.encode_video(clips, device=device)
        from benchmark.atomic import atomic_path

        with atomic_path(path, fsync=False) as tmp:  # a cache: a lost entry is only recomputed
            torch.save(latents.detach().cpu(), tmp)
        return latents

    # ------------------------------------------------------------------ 5. conditions
    def prepare_conditions(self, batch_size, height, width, num_frames, device, image=None, first_frame_latent=None,
                           exo_video=None, exo_K=None, exo_T_world_cam=None, ego_K=None, ego_T_world_cam=None,
                           view_mask=None, ego_image_size=None) -> Exo2EgoSynConditions:
        """First-frame condition latent, first-frame mask and the additive token injection (see module doc).

        The exo latents and ray maps come from :func:`exo2egosyn.conditioning.exo_conditioning`, the function
        training builds its inputs with.
        """
        dtype = torch.float32
        tf = self.vae_scale_factor_temporal
        s = self.vae_scale_factor_spatial
        num_latent_frames = (num_frames - 1) // tf + 1
        h, w = height // s, width // s
        first_frame_mask = conditioning.first_frame_mask(num_latent_frames, h, w, device=device, dtype=dtype)

        use_align = self.align is not None and image is None and first_frame_latent is None
        needs_geometry = use_align or self.multiexocon is not None or self.poseinj is not None or (
            image is None and first_frame_latent is None)
        exo = None
        if needs_geometry:
            if isinstance(exo_video, np.ndarray):
                exo_video = video_to_tensor(exo_video)
            exo_video = exo_video.to(device=device, dtype=torch.float32)  # (B, V, 3, T, He, We)
            if exo_video.ndim == 5:
                exo_video = exo_video[None]
            # exo latents: whole videos for MultiExoCon; only the first latent frame(s) when Align alone reads them
            encode = (lambda clips: self.encode_exo_views(clips, device=device)) if (
                self.multiexocon is not None or use_align) else None
            exo = conditioning.exo_conditioning(
                exo_video, exo_K, exo_T_world_cam, ego_K, ego_T_world_cam, height=height, width=width,
                num_frames=num_frames, spatial_factor=s, temporal_factor=tf, encode=encode,
                exo_latent_frames=None if self.multiexocon is not None else (
                    self.align.config.num_exo_frames if use_align else None),
                ego_rays0=use_align, rays_ego=self.poseinj is not None, view_mask=view_mask,
                ego_image_size=ego_image_size, device=device, dtype=dtype)

        # first-frame condition latent
        if first_frame_latent is not None:
            condition, source = first_frame_latent.to(device=device, dtype=dtype), "latent"
            if condition.ndim == 4:
                condition = condition[:, :, None]
            if condition.shape[0] == 1 and batch_size > 1:
                condition = condition.repeat(batch_size, 1, 1, 1, 1)
        elif image is not None:
            image = self.video_processor.preprocess(image, height=height, width=width).to(device, dtype=dtype)
            condition = self.encode_video(image.unsqueeze(2), device=device, dtype=dtype)
            if condition.shape[0] == 1 and batch_size > 1:
                condition = condition.repeat(batch_size, 1, 1, 1, 1)
            source = "image"
        elif use_align:
            condition = self.align(exo.exo_latents, exo.rays_exo, exo.ego_rays0, view_mask=exo.view_mask,
                                   base_view=exo.base_view).to(dtype)
            source = "align"
        else:
            frame0 = conditioning.closest_exo_frame(exo_video, exo.base_view, height, width)
            condition = self.encode_video(frame0, device=device, dtype=dtype)
            source = "closest-exo"

        injection = None
        if self.multiexocon is not None:
            injection = self.multiexocon(exo.exo_latents, exo.rays_exo, exo.view_mask, ego_latent_size=(h, w))
        if self.poseinj is not None:
            pose_tokens = self.poseinj(exo.rays_ego, exo.view_mask)
            injection = pose_tokens if injection is None else injection + pose_tokens
        if injection is not None and injection.shape[0] != batch_size:
            injection = injection.expand(batch_size, *injection.shape[1:])
        return Exo2EgoSynConditions(condition=condition, first_frame_mask=first_frame_mask, injection=injection,
                                    base_view=None if exo is None else exo.base_view,
                                    exo_latents=None if exo is None else exo.exo_latents,
                                    first_frame_source=source, exo=exo)

    # ------------------------------------------------------------------ 6. one denoising prediction
    def predict_noise(self, latent_model_input, timestep, encoder_hidden_states, injection=None,
                      attention_kwargs=None, cache_context: str = "cond"):
        """Transformer forward with the Exo2EgoSyn token injection (the one place both are combined)."""
        with self.transformer.cache_context(cache_context), patch_embedding_addition(self.transformer, injection):
            return self.transformer(hidden_states=latent_model_input, timestep=timestep,
                                    encoder_hidden_states=encoder_hidden_states, attention_kwargs=attention_kwargs,
                                    return_dict=False)[0]

    @property
    def guidance_scale(self):
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self):
        return self._guidance_scale > 1

    @property
    def num_timesteps(self):
        return self._num_timesteps

    @property
    def current_timestep(self):
        return self._current_timestep

    @property
    def interrupt(self):
        return self._interrupt

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        exo_video=None,
        exo_K=None,
        exo_T_world_cam=None,
        ego_K=None,
        ego_T_world_cam=None,
        view_mask=None,
        image=None,
        first_frame_latent: torch.Tensor | None = None,
        height: int = 704,
        width: int = 1280,
        num_frames: int = 121,
        num_inference_steps: int = 50,
        guidance_scale: float = 5.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: tuple = ("latents",),
        max_sequence_length: int = 512,
        ego_image_size: tuple | None = None,
    ):
        r"""Generate ego videos.

        Args:
            exo_video: float (B, V, 3, T, He, We) in [-1, 1] (or uint8 numpy (V, T, He, We, 3)); T = num_frames.
            exo_K: (B, V, 3, 3) in exo pixels. exo_T_world_cam: (B, V, 4, 4) or (B, V, T, 4, 4), camera-to-world.
            ego_K: (B, 3, 3) in pixels of ``ego_image_size`` (default (height, width)).
            ego_T_world_cam: (B, T, 4, 4). Unbatched (no B) inputs are accepted for one clip.
            view_mask: (B, V) bool, False for missing views.
            image: the true ego first frame (first-frame track); otherwise Align (or the closest exo view).
            first_frame_latent: a precomputed normalized first-frame latent (B, C, 1, h, w) instead of ``image``.
            Other arguments as in ``WanImageToVideoPipeline`` (``expand_timesteps=True``).
        Returns:
            ``WanPipelineOutput(frames=...)``: (B, T, H, W, 3) floats in [0, 1] for ``output_type="np"``.
        """
        self.check_inputs(prompt, negative_prompt, image, first_frame_latent, exo_video, exo_K, exo_T_world_cam,
                          ego_K, ego_T_world_cam, height, width, prompt_embeds, negative_prompt_embeds,
                          callback_on_step_end_tensor_inputs)
        if num_frames % self.vae_scale_factor_temporal != 1:
            raise ValueError(f"num_frames must be {self.vae_scale_factor_temporal}k + 1, got {num_frames}")

        self._guidance_scale = guidance_scale
        self._attention_kwargs = attention_kwargs
        self._current_timestep = None
        self._interrupt = False
        device = self._execution_device

        # 2. prompt
        if prompt is not None:
            batch_size = 1 if isinstance(prompt, str) else len(prompt)
        else:
            batch_size = prompt_embeds.shape[0]
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt=prompt, negative_prompt=negative_prompt,
            do_classifier_free_guidance=self.do_classifier_free_guidance,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
            max_sequence_length=max_sequence_length, device=device)
        transformer_dtype = self.transformer.dtype
        prompt_embeds = prompt_embeds.to(transformer_dtype)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.to(transformer_dtype)

        # 3. timesteps
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps

        # 4. noise (drawn before anything else touches the generator: same noise as vanilla WAN)
        latents = self.prepare_latents(batch_size, self.vae.config.z_dim, height, width, num_frames, torch.float32,
                                       device, generator, latents)

        # 5. conditions
        cond = self.prepare_conditions(batch_size, height, width, num_frames, device, image=image,
                                       first_frame_latent=first_frame_latent, exo_video=exo_video, exo_K=exo_K,
                                       exo_T_world_cam=exo_T_world_cam, ego_K=ego_K, ego_T_world_cam=ego_T_world_cam,
                                       view_mask=view_mask, ego_image_size=ego_image_size)
        condition, mask = cond.condition, cond.first_frame_mask
        injection = None if cond.injection is None else cond.injection.to(transformer_dtype)

        # 6. denoising loop
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        self._num_timesteps = len(timesteps)
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                self._current_timestep = t
                latent_model_input = conditioning.with_clean_first_frame(latents, condition, mask).to(transformer_dtype)
                # per-token timesteps (B, seq_len): 0 on the clean first latent frame
                timestep = conditioning.token_timesteps(mask, t, self.transformer.config.patch_size,
                                                        latents.shape[0])
                noise_pred = self.predict_noise(latent_model_input, timestep, prompt_embeds, injection,
                                                attention_kwargs, "cond")
                if self.do_classifier_free_guidance:
                    noise_uncond = self.predict_noise(latent_model_input, timestep, negative_prompt_embeds, injection,
                                                      attention_kwargs, "uncond")
                    noise_pred = noise_uncond + guidance_scale * (noise_pred - noise_uncond)
                latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]

                if callback_on_step_end is not None:
                    # a loop, not a dict comprehension: before Python 3.12 a comprehension has its own scope,
                    # where locals() does not see latents / prompt_embeds (KeyError: 'latents')
                    step_locals = locals()
                    callback_kwargs = {}
                    for k in callback_on_step_end_tensor_inputs:
                        callback_kwargs[k] = step_locals[k]
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                    latents = callback_outputs.pop("latents", latents)
                    prompt_embeds = callback_outputs.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = callback_outputs.pop("negative_prompt_embeds", negative_prompt_embeds)
                if i == len(timesteps) - 1 or ((i + 1) > num_warmup_steps and (i + 1) % self.scheduler.order == 0):
                    progress_bar.update()
        self._current_timestep = None
        latents = conditioning.with_clean_first_frame(latents, condition, mask)

        # 7. decode
        if output_type != "latent":
            latents = latents.to(device=get_module_execution_device(self.vae), dtype=self.vae.dtype)
            video = self.vae.decode(conditioning.denormalize(self.vae, latents), return_dict=False)[0]
            video = self.video_processor.postprocess_video(video, output_type=output_type)
        else:
            video = latents
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return WanPipelineOutput(frames=video)
