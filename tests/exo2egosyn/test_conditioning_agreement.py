"""Training and inference condition the model on the same things (exo2egosyn/conditioning.py).

For every clip of the tiny SynthEgoExo fixture, what training caches and feeds the modules (exo latents, ray maps,
closest view, first-frame condition, token injection) equals what the generator's pipeline builds for the same
clip, and the flow-matching input of a training step is the denoising loop's transformer input at that noise level.
"""

import pytest
import torch

from benchmark.data import load_split
from exo2egosyn import conditioning
from exo2egosyn.configs import build_modules, build_tiny_components
from exo2egosyn.generator import Exo2EgoSynGenerator
from exo2egosyn.pipeline import Exo2EgoSynPipeline
from exo2egosyn.train import FlowStep, build_cache, first_frame_conditions, flow_inputs, save_backbone

CLIPS = [0, 1, 2]


@pytest.fixture(scope="module")
def setup(tiny_synth, tmp_path_factory):
    """A tiny WAN folder, trained-looking adapters (non-zero output projections) saved for the generator, and the
    training cache of the fixture's clips built from the same components."""
    tmp = tmp_path_factory.mktemp("agreement")
    comps = build_tiny_components(seed=0)
    save_backbone(comps, tmp / "wan")
    mods = build_modules(comps["transformer"].config, comps["vae"].config, seed=0)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name in ("multiexocon", "poseinj"):  # zero-init outputs would make the injection comparison vacuous
            for p in mods[name].proj_out.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    Exo2EgoSynPipeline(**comps, **mods).save_adapters(str(tmp / "adapters"))
    clips = load_split("synth", "test", root=str(tiny_synth), build_if_missing=False)
    cfg = {"cache_dir": str(tmp / "cache"), "flow": {"max_sequence_length": 64, "exo_views": "all"},
           "_progress": False}
    cache = build_cache(cfg, comps, clips, CLIPS, "adapters")
    return dict(tmp=tmp, comps=comps, mods=mods, clips=clips, cache=cache)


def _generator_conditions(setup, monkeypatch, **flags):
    """Run the generator on every clip (1 step) and record what its pipeline's prepare_conditions returned."""
    gen = Exo2EgoSynGenerator(backbone=str(setup["tmp"] / "wan"), checkpoint=str(setup["tmp"] / "adapters"),
                              num_inference_steps=1, guidance_scale=1.0, max_sequence_length=64, max_area=32 * 32,
                              max_exo_area=32 * 48, device="cpu", **flags)
    pipe = gen.pipeline
    seen = []
    original = pipe.prepare_conditions

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    monkeypatch.setattr(pipe, "prepare_conditions", recording)
    for i in CLIPS:
        gen.generate(setup["clips"][i].inputs("exo-only"), seed=0)
    return pipe, seen


def test_exo_latents_rays_and_closest_view_are_the_pipelines(setup, monkeypatch):
    pipe, seen = _generator_conditions(setup, monkeypatch)
    cache = setup["cache"]
    for k, cond in enumerate(seen):
        exo = cond.exo
        assert cond.first_frame_source == "align"
        torch.testing.assert_close(cache["exo"][k], exo.exo_latents[0], rtol=0, atol=1e-6)
        for key in ("rays_exo", "ego_rays0", "rays_ego"):
            assert cache["geom"][k][key].shape == getattr(exo, key)[0].shape, key
            torch.testing.assert_close(cache["geom"][k][key], getattr(exo, key)[0], rtol=0, atol=0, msg=key)
        assert int(cache["geom"][k]["base_view"]) == int(exo.base_view[0])
        # the clip's ego target is on the latent grid the conditions were built for
        assert cache["ego"][k].shape[-2:] == cond.condition.shape[-2:] == exo.rays_ego.shape[-2:]


def test_first_frame_and_injection_of_a_training_step_are_the_pipelines(setup, monkeypatch):
    pipe, seen = _generator_conditions(setup, monkeypatch)
    cache, mods = setup["cache"], setup["mods"]
    conds = first_frame_conditions(pipe.align, cache)
    step = FlowStep(setup["comps"]["transformer"], pipe.multiexocon, pipe.poseinj)
    for k, cond in enumerate(seen):
        torch.testing.assert_close(conds[k:k + 1], cond.condition, rtol=0, atol=1e-5)
        g = cache["geom"][k]
        with torch.no_grad():
            inj = step.injection(cache["exo"][k][None], g["rays_exo"][None], g["rays_ego"][None],
                                 tuple(cache["ego"][k].shape[-2:]))
        assert inj.abs().max() > 1e-3  # non-trivial: the modules are not at their zero init
        torch.testing.assert_close(inj, cond.injection, rtol=0, atol=1e-5)
    assert mods["align"] is not None


def test_without_align_the_first_frame_is_the_cached_closest_exo_frame(setup, monkeypatch):
    _, seen = _generator_conditions(setup, monkeypatch, use_align=False)
    cache = setup["cache"]
    conds = first_frame_conditions(None, cache)
    for k, cond in enumerate(seen):
        assert cond.first_frame_source == "closest-exo"
        torch.testing.assert_close(conds[k:k + 1], cond.condition, rtol=0, atol=1e-6)


def test_a_training_step_sees_the_denoising_loops_transformer_input(setup):
    """flow_inputs at sigma = t / 1000 with x_t = the loop's latents == what the transformer gets in the loop."""
    comps = setup["comps"]
    pipe = Exo2EgoSynPipeline(**comps)
    pipe.set_progress_bar_config(disable=True)
    seen = {}

    def hook(module, args, kwargs):
        seen.setdefault("x", kwargs["hidden_states"].clone())
        seen.setdefault("t", kwargs["timestep"].clone())

    condition = torch.randn(1, comps["vae"].config.z_dim, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, comps["vae"].config.z_dim, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    handle = comps["transformer"].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        pipe(first_frame_latent=condition, prompt_embeds=torch.zeros(1, 8, 32), latents=noise.clone(), height=32,
             width=32, num_frames=9, num_inference_steps=2, guidance_scale=1.0, output_type="latent")
    finally:
        handle.remove()
    t0 = pipe.scheduler.timesteps[0]
    # x0 = noise makes x_t = noise at any sigma: the loop's first input is the initial noise itself
    latent_in, timestep, _ = flow_inputs(noise, condition, noise, (t0 / 1000.0).reshape(1),
                                         comps["transformer"].config.patch_size)
    torch.testing.assert_close(seen["x"], latent_in, rtol=0, atol=1e-6)
    torch.testing.assert_close(seen["t"].float(), timestep.float(), rtol=1e-6, atol=1e-3)
    assert (seen["t"][0, :4] == 0).all() and (seen["t"][0, -1] > 0)  # frame 0's tokens are clean


def test_generation_sizes_snap_to_whole_tokens_and_latents():
    s = conditioning.generation_sizes((70, 100), (270, 480), 15, spatial_factor=16, patch_size=(1, 2, 2),
                                      temporal_factor=4)
    assert (s.height, s.width) == (64, 96)  # multiples of 16 * 2 for the ego (transformer tokens)
    assert (s.exo_height, s.exo_width) == (272, 480)  # multiples of 16 for the exo views (latents)
    assert s.num_frames == 17  # the smallest 4 k + 1 >= 15
    capped = conditioning.generation_sizes((256, 256), (270, 480), 17, spatial_factor=16, patch_size=(1, 2, 2),
                                           temporal_factor=4, max_area=64 * 64, max_exo_area=64 * 96)
    assert (capped.height, capped.width) == (64, 64) and (capped.exo_height, capped.exo_width) == (64, 112)


def test_training_and_generation_key_cached_latents_on_one_vae_identity(setup, tmp_path):
    """The training latent cache and the pipeline's exo-latent cache name a VAE by the same identity: equal for an
    identical copy, different after a weight change, a dtype change or a config change; a changed VAE rebuilds the
    training cache instead of reading latents another encoder made."""
    import copy

    vae = setup["comps"]["vae"]
    pipe = Exo2EgoSynPipeline(**setup["comps"], **setup["mods"])
    assert pipe.vae_identity() == conditioning.vae_identity(vae) == conditioning.vae_identity(copy.deepcopy(vae))
    changed = copy.deepcopy(vae)
    with torch.no_grad():
        next(changed.parameters()).add_(1e-3)
    assert conditioning.vae_identity(changed) != conditioning.vae_identity(vae)
    assert conditioning.vae_identity(copy.deepcopy(vae).to(torch.bfloat16)) != conditioning.vae_identity(vae)
    other_config = copy.deepcopy(vae)
    other_config.register_to_config(scale_factor_spatial=vae.config.scale_factor_spatial * 2)
    assert conditioning.vae_identity(other_config) != conditioning.vae_identity(vae)

    cfg = {"cache_dir": str(tmp_path), "flow": {"max_sequence_length": 64, "exo_views": "all"}, "_progress": False}
    build_cache(cfg, setup["comps"], setup["clips"], CLIPS[:1], "adapters")
    build_cache(cfg, {**setup["comps"], "vae": changed}, setup["clips"], CLIPS[:1], "adapters")
    assert len(list(tmp_path.glob("adapters-*.pt"))) == 2
