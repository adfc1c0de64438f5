"""Exo2EgoSynPipeline on tiny real WAN components: vanilla equivalence at init, conditioning, save/load."""

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

from exo2egosyn import EgoExoAlign, MultiExoCon, PoseInj
from exo2egosyn.configs import TINY_SCHEDULER, build_modules, build_tiny_components
from exo2egosyn.pipeline import Exo2EgoSynPipeline, video_to_tensor
from exo2egosyn.testing import synthetic_inputs

STEPS = 2


@pytest.fixture(scope="module")
def comps():
    return build_tiny_components(seed=0)


@pytest.fixture(scope="module")
def clip():
    return synthetic_inputs(num_views=4, num_frames=17, track="first-frame", seed=3)


def _pipe(comps, **flags):
    mods = build_modules(comps["transformer"].config, comps["vae"].config, **flags)
    pipe = Exo2EgoSynPipeline(**{**comps, "scheduler": UniPCMultistepScheduler(**TINY_SCHEDULER)}, **mods)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _exo_kwargs(x):
    return dict(exo_video=video_to_tensor(x.exo_video)[None], exo_K=x.exo_K[None],
                exo_T_world_cam=x.exo_T_world_cam[None], ego_K=x.ego_K[None],
                ego_T_world_cam=x.ego_T_world_cam[None], height=64, width=64, num_frames=17)


def _embeds(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 16, 32, generator=g), torch.randn(1, 16, 32, generator=g)


def _perturb_modules(pipe, scale=0.05):
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name in ("align", "multiexocon", "poseinj"):
            module = getattr(pipe, name)
            if module is not None:
                for p in module.proj_out.parameters():
                    p.copy_(torch.randn(p.shape, generator=g) * scale)


def test_fresh_modules_reproduce_vanilla_wan_ti2v_exactly(comps, clip):
    """Zero-init guarantee: MultiExoCon + PoseInj at init, same first frame, same seed == WanImageToVideoPipeline."""
    pe, ne = _embeds()
    image = PIL.Image.fromarray(clip.ego_first_frame)
    vanilla = WanImageToVideoPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"],
                                      vae=comps["vae"], scheduler=UniPCMultistepScheduler(**TINY_SCHEDULER),
                                      transformer=comps["transformer"], expand_timesteps=True)
    vanilla.set_progress_bar_config(disable=True)
    ref = vanilla(image=image, prompt_embeds=pe, negative_prompt_embeds=ne, height=64, width=64, num_frames=17,
                  num_inference_steps=STEPS, guidance_scale=3.0, generator=torch.Generator().manual_seed(11)).frames
    pipe = _pipe(comps, use_align=False)
    out = pipe(image=image, prompt_embeds=pe, negative_prompt_embeds=ne, num_inference_steps=STEPS, guidance_scale=3.0,
               generator=torch.Generator().manual_seed(11), **_exo_kwargs(clip)).frames
    assert out.shape == ref.shape == (1, 17, 64, 64, 3)
    assert np.abs(out - ref).max() < 1e-5


def test_trained_modules_change_the_output(comps, clip):
    pe, _ = _embeds()
    image = PIL.Image.fromarray(clip.ego_first_frame)
    pipe = _pipe(comps, use_align=False)
    kw = dict(image=image, prompt_embeds=pe, num_inference_steps=STEPS, guidance_scale=1.0, output_type="latent")
    before = pipe(generator=torch.Generator().manual_seed(0), **kw, **_exo_kwargs(clip)).frames
    _perturb_modules(pipe)
    after = pipe(generator=torch.Generator().manual_seed(0), **kw, **_exo_kwargs(clip)).frames
    assert (after - before).abs().max() > 1e-3


def test_align_prediction_is_the_first_latent_frame_in_the_exo_only_track(comps, clip):
    pipe = _pipe(comps)
    _perturb_modules(pipe)
    pe, _ = _embeds()
    lat = pipe(prompt_embeds=pe, num_inference_steps=STEPS, guidance_scale=1.0, output_type="latent",
               generator=torch.Generator().manual_seed(0), **_exo_kwargs(clip)).frames
    cond = pipe.prepare_conditions(1, 64, 64, 17, torch.device("cpu"), **{k: v for k, v in _exo_kwargs(clip).items()
                                                                          if k.startswith(("exo", "ego"))})
    z, f = pipe.vae.config.z_dim, pipe.vae_scale_factor_spatial  # one latent frame of the 64x64 ego view
    assert cond.first_frame_source == "align" and cond.condition.shape == (1, z, 1, 64 // f, 64 // f)
    torch.testing.assert_close(lat[:, :, :1], cond.condition)


def test_without_align_the_exo_only_track_starts_from_the_closest_exo_view(comps, clip):
    pipe = _pipe(comps, use_align=False)
    kw = {k: v for k, v in _exo_kwargs(clip).items() if k.startswith(("exo", "ego"))}
    cond = pipe.prepare_conditions(1, 64, 64, 17, torch.device("cpu"), **kw)
    dirs = clip.exo_T_world_cam[:, :3, 2] @ clip.ego_T_world_cam[0, :3, 2]
    assert cond.first_frame_source == "closest-exo" and cond.base_view.item() == int(np.argmax(dirs))


def test_same_seed_same_video_and_other_seed_other_video(comps, clip):
    pipe = _pipe(comps)
    _perturb_modules(pipe)
    pe, _ = _embeds()
    kw = dict(prompt_embeds=pe, num_inference_steps=STEPS, guidance_scale=1.0, output_type="latent",
              **_exo_kwargs(clip))
    a = pipe(generator=torch.Generator().manual_seed(5), **kw).frames
    b = pipe(generator=torch.Generator().manual_seed(5), **kw).frames
    c = pipe(generator=torch.Generator().manual_seed(6), **kw).frames
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_step_callback_sees_and_can_replace_the_latents(comps, clip):
    """callback_on_step_end gets the step's latents (on every supported Python: before 3.12 a dict comprehension
    over locals() raised KeyError: 'latents') and what it returns replaces them, as in diffusers' pipelines."""
    pipe = _pipe(comps)
    pe, _ = _embeds()
    seen = []

    def zero_latents(pipeline, i, t, kwargs):
        seen.append((i, tuple(kwargs["latents"].shape)))
        return {"latents": torch.zeros_like(kwargs["latents"])}

    kw = dict(prompt_embeds=pe, num_inference_steps=STEPS, guidance_scale=1.0, output_type="latent",
              generator=torch.Generator().manual_seed(0), **_exo_kwargs(clip))
    out = pipe(callback_on_step_end=zero_latents, **kw).frames
    assert [i for i, _ in seen] == list(range(STEPS)) and len({s for _, s in seen}) == 1
    assert torch.count_nonzero(out[:, :, 1:]) == 0  # the last step's latents were replaced; frame 0 is the condition


def test_save_pretrained_from_pretrained_round_trip(comps, clip, tmp_path):
    pipe = _pipe(comps, use_poseinj=False)
    _perturb_modules(pipe)
    pipe.save_pretrained(tmp_path)
    assert (tmp_path / "align" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = Exo2EgoSynPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.align, EgoExoAlign) and isinstance(loaded.multiexocon, MultiExoCon)
    assert loaded.poseinj is None
    pe, _ = _embeds()
    kw = dict(prompt_embeds=pe, num_inference_steps=STEPS, guidance_scale=1.0, output_type="latent",
              **_exo_kwargs(clip))
    a = pipe(generator=torch.Generator().manual_seed(1), **kw).frames
    b = loaded(generator=torch.Generator().manual_seed(1), **kw).frames
    assert torch.equal(a, b)


def test_save_adapters_load_adapters_restores_the_modules(comps, tmp_path):
    pipe = _pipe(comps)
    _perturb_modules(pipe)
    pipe.save_adapters(tmp_path)
    fresh = _pipe(comps).load_adapters(tmp_path, strict_modules=True)
    assert isinstance(fresh.poseinj, PoseInj)
    for name in ("align", "multiexocon", "poseinj"):
        a, b = getattr(pipe, name).state_dict(), getattr(fresh, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_from_wan_sizes_the_modules_to_the_backbone(comps):
    wan = WanImageToVideoPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                                  scheduler=comps["scheduler"], transformer=comps["transformer"], expand_timesteps=True)
    pipe = Exo2EgoSynPipeline.from_wan(wan, use_align=True, use_multiexocon=True, use_poseinj=False)
    assert pipe.poseinj is None and pipe.transformer is comps["transformer"]
    assert pipe.multiexocon.config.inner_dim == 128 and pipe.align.config.latent_channels == comps["vae"].config.z_dim


def test_from_wan_pretrained_loads_a_diffusers_format_wan_folder(comps, clip, tmp_path):
    """The real-weights code path (Wan2.2-TI2V-5B folder layout), exercised on a tiny folder."""
    wan = WanImageToVideoPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                                  scheduler=UniPCMultistepScheduler(**TINY_SCHEDULER), transformer=comps["transformer"],
                                  expand_timesteps=True)
    wan.save_pretrained(tmp_path / "wan")
    pipe = Exo2EgoSynPipeline.from_wan_pretrained(tmp_path / "wan", torch_dtype=torch.float32, device="cpu",
                                                  use_poseinj=False)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.poseinj is None and isinstance(pipe.multiexocon, MultiExoCon)
    assert isinstance(pipe.scheduler, UniPCMultistepScheduler)
    out = pipe(prompt="a person", num_inference_steps=1, guidance_scale=1.0, max_sequence_length=16,
               generator=torch.Generator().manual_seed(0), **_exo_kwargs(clip)).frames
    assert out.shape == (1, 17, 64, 64, 3)


def test_exo_latent_cache_returns_the_stored_latents_and_keys_on_content_and_vae(comps, tmp_path):
    """Second encoding of the same exo views is a cache hit (no VAE call) with the same latents; other views or
    another VAE miss."""
    pipe = _pipe(comps)
    pipe.exo_latent_cache = str(tmp_path)
    calls = []
    encode = pipe.encode_video
    pipe.encode_video = lambda *a, **k: calls.append(1) or encode(*a, **k)
    views = torch.rand(2, 3, 5, 64, 96, generator=torch.Generator().manual_seed(0)) * 2 - 1
    first = pipe.encode_exo_views(views, device="cpu")
    again = pipe.encode_exo_views(views.clone(), device="cpu")
    assert len(calls) == 1 and torch.equal(first, again) and len(list(tmp_path.glob("exo-*.pt"))) == 1
    torch.testing.assert_close(first, encode(views, device="cpu"), rtol=0, atol=0)
    pipe.encode_exo_views(views.flip(0), device="cpu")  # other content: a miss
    assert len(calls) == 2
    with torch.no_grad():
        next(pipe.vae.parameters()).add_(1e-3)
    pipe._vae_identity = None  # another VAE (weights changed): a miss
    pipe.encode_exo_views(views, device="cpu")
    assert len(calls) == 3 and len(list(tmp_path.glob("exo-*.pt"))) == 3
