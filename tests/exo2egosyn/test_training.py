"""Training of the tiny Exo2EgoSyn (exo2egosyn/train/): loss goes down, resume == uninterrupted, CLI, configs.

Runs on the session's tiny SynthEgoExo fixture (3 clips, 9 frames, ego 32x32, exo 32x48) in a few seconds.
"""

from pathlib import Path

import pytest
import torch

from exo2egosyn.__main__ import build_parser, main
from exo2egosyn.train import load_config, train

CONFIG_DIR = Path(__file__).resolve().parents[2] / "exo2egosyn" / "configs"


def _base(root, tmp, **over):
    cfg = dict(seed=0, data=dict(root=str(root), split="test"), threads=1, cache_dir=str(tmp / "cache"),
               train=dict(steps=6, batch_size=2, save_every=3, log_every=2, lr=1e-3))
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def backbone(tiny_synth, tmp_path_factory):
    """A tiny WAN folder after 2 VAE steps (its transformer is fresh)."""
    tmp = tmp_path_factory.mktemp("backbone")
    out = tmp / "tiny-wan"
    s = train(_base(tiny_synth, tmp, stage="vae", output_dir=str(out), work_dir=str(tmp / "work"),
                    train=dict(steps=2, batch_size=2, save_every=2, log_every=1)), progress=False)
    assert s["finished"] and (out / "model_index.json").is_file() and (out / "MODEL_CARD-vae.md").is_file()
    return out


def _safetensors(folder):
    from safetensors.torch import load_file

    out = {}
    for f in sorted(Path(folder).rglob("*.safetensors")):
        for k, v in load_file(str(f)).items():
            out[f"{f.relative_to(folder)}:{k}"] = v
    return out


def _cfg(kind, tiny_synth, backbone, tmp, name, steps=6, save_every=3):
    extra = dict(train=dict(steps=steps, batch_size=2, save_every=save_every, log_every=1, lr=1e-3))
    if kind == "transformer":
        return _base(tiny_synth, tmp, stage="transformer", backbone=str(backbone), output_dir=str(tmp / name),
                     work_dir=str(tmp / f"work-{name}"), flow=dict(text_dropout=0.5), **extra)
    return _base(tiny_synth, tmp, stage="adapters", backbone=str(backbone), output_dir=str(tmp / name),
                 work_dir=str(tmp / f"work-{name}"), adapters=dict(stage1_steps=4, stage1_lr=3e-3), **extra)


def test_losses_decrease(tiny_synth, backbone, tmp_path):
    s = train(_cfg("transformer", tiny_synth, backbone, tmp_path, "tr", steps=12, save_every=12), progress=False)
    flow = [v for _, v in s["losses"]["transformer"]]
    assert sum(flow[-3:]) < sum(flow[:3]), flow
    s = train(_cfg("adapters", tiny_synth, backbone, tmp_path, "ad", steps=2, save_every=10), progress=False)
    align = [v for _, v in s["losses"]["align"]]  # batch 2 of 3 fixed clips, deterministic MSE
    assert align[-1] < align[0], align
    out = tmp_path / "ad"
    assert {"align", "multiexocon", "poseinj", "transformer_lora", "MODEL_CARD.md"} <= {p.name for p in out.iterdir()}
    assert (tmp_path / "work-ad" / "loss.png").stat().st_size > 1000


@pytest.mark.parametrize("kind", ["transformer", "adapters"])
def test_resume_equals_uninterrupted(kind, tiny_synth, backbone, tmp_path):
    ref = train(_cfg(kind, tiny_synth, backbone, tmp_path, "ref", steps=4, save_every=2), progress=False)
    assert ref["finished"]
    cfg = _cfg(kind, tiny_synth, backbone, tmp_path, "res", steps=4, save_every=2)
    stops = [3, 7] if kind == "adapters" else [3]  # adapters: 4 align steps then 4 flow steps
    for stop in stops:  # interrupted after the state of step 2 (align) / step 6 (flow) was saved
        assert not train(cfg, stop_after=stop, progress=False)["finished"]
    res = train(cfg, progress=False)
    assert res["finished"] and res["step"] == ref["step"]
    assert [v for p in res["losses"].values() for _, v in p] == [v for p in ref["losses"].values() for _, v in p]
    a, b = _safetensors(tmp_path / "ref"), _safetensors(tmp_path / "res")
    if kind == "transformer":
        a = {k: v for k, v in a.items() if k.startswith("transformer/")}
        b = {k: v for k, v in b.items() if k.startswith("transformer/")}
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_work_dir_of_another_run_is_refused_and_a_longer_run_resumes(tiny_synth, backbone, tmp_path, capsys):
    """Resuming must continue the same model: a rerun with other data or other settings into the same work_dir is
    refused with the differing settings named (the CLI exits 2); more steps, or a later learning-rate milestone,
    resume."""
    from exo2egosyn.train import RunMismatchError

    cfg = _cfg("transformer", tiny_synth, backbone, tmp_path, "tr", steps=2, save_every=2)
    cfg["data"]["n_clips"] = 2
    assert train(cfg, progress=False)["finished"]
    other = {**cfg, "data": {**cfg["data"], "n_clips": 3}, "train": {**cfg["train"], "lr": 2e-3}}
    with pytest.raises(RunMismatchError, match=r"data.n_clips: 2 there, 3 now; train.lr: 0.001 there, 0.002 now"):
        train(other, progress=False)
    longer = {**cfg, "train": {**cfg["train"], "steps": 4, "lr_decay": [[3, 0.5]]}}
    res = train(longer, progress=False)
    assert res["finished"] and res["step"] == 4 and len(res["losses"]["transformer"]) == 4
    import yaml

    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    assert main(["train", "--config", str(path), "--no-progress"]) == 2
    assert "holds the resume state of another run" in capsys.readouterr().err


def test_trained_adapters_load_into_pipeline(tiny_synth, backbone, tmp_path):
    from exo2egosyn.configs import build_modules
    from exo2egosyn.pipeline import Exo2EgoSynPipeline, load_wan_components

    train(_cfg("adapters", tiny_synth, backbone, tmp_path, "ad", steps=2, save_every=10), progress=False)
    comps = load_wan_components(str(backbone), torch_dtype=torch.float32)
    mods = build_modules(comps["transformer"].config, comps["vae"].config)
    pipe = Exo2EgoSynPipeline(**comps, **mods).load_adapters(str(tmp_path / "ad"), strict_modules=True)
    assert getattr(pipe.transformer, "peft_config", None)
    assert float(pipe.multiexocon.state_dict()[[k for k in pipe.multiexocon.state_dict()][-1]].abs().sum()) > 0


def test_a_transformer_of_another_architecture_trains_from_scratch_and_serves_adapters(tiny_synth, backbone,
                                                                                       tmp_path, capsys):
    """transformer.model overrides configs.TINY_TRANSFORMER: the stage starts a fresh transformer of that size
    (latent channels from the backbone's VAE) instead of continuing the backbone's, and adapters train on it."""
    from exo2egosyn.pipeline import load_wan_components

    cfg = _cfg("transformer", tiny_synth, backbone, tmp_path, "small", steps=2, save_every=2)
    cfg["transformer"] = {"model": {"num_layers": 2, "attention_head_dim": 16, "ffn_dim": 128}}
    assert train(cfg, progress=False)["finished"]
    comps = load_wan_components(str(tmp_path / "small"), torch_dtype=torch.float32)
    tc, z = comps["transformer"].config, comps["vae"].config.z_dim
    assert (tc.num_layers, tc.attention_head_dim, tc.ffn_dim, tc.in_channels, tc.out_channels) == (2, 16, 128, z, z)
    s = train(_cfg("adapters", tiny_synth, tmp_path / "small", tmp_path, "ad-small", steps=2, save_every=10),
              progress=False)
    assert s["finished"] and (tmp_path / "ad-small" / "align").is_dir()
    # the benchmark runs a trained miniature at the miniature's defaults, not the real model's 704 x 1280 area
    # (which made wan2.2-ti2v refuse the clip: 952 x 952 is not a multiple of 16) - whatever its folder is called
    from benchmark import registry
    from exo2egosyn.testing import synthetic_inputs

    x = synthetic_inputs(num_views=2, num_frames=9, track="first-frame", seed=4)
    for name, extra in (("wan2.2-ti2v", {}), ("exo2egosyn", {"checkpoint": str(tmp_path / "ad-small")})):
        g = registry.build(name, backbone=str(tmp_path / "small"), num_inference_steps=1, **extra)
        assert g.is_miniature and not g.is_tiny
        assert (g.max_area, g.guidance_scale, g.max_sequence_length, g.generation_threads) == (64 * 64, 1.0, 64, 1)
        assert g.generate(x, seed=0).shape == (9, 64, 64, 3)
    bad = ["train", "--config", str(CONFIG_DIR / "foundation-transformer.yaml"), "--print-config",
           "--set", "transformer.model.num_layer=8"]
    assert main(bad) == 2 and "transformer.model: unknown key(s) ['num_layer']" in capsys.readouterr().err


def test_cli_parses_every_config(capsys):
    configs = sorted(CONFIG_DIR.glob("*.yaml"))
    names = {p.stem for p in configs}
    assert {"foundation-vae", "foundation-transformer", "exo2egosyn", "exo2egosyn-no-align",
            "exo2egosyn-no-multiexocon", "exo2egosyn-no-poseinj"} <= names
    budgets = set()
    for p in configs:
        cfg = load_config(p)
        args = build_parser().parse_args(["train", "--config", str(p)])
        assert args.config == str(p)
        if cfg["stage"] == "adapters":
            a = dict(cfg["adapters"])
            for k in ("use_align", "use_multiexocon", "use_poseinj"):
                a.pop(k)
            budgets.add(repr((cfg["train"], a, cfg["data"], cfg["seed"])))
    assert len(budgets) == 1  # identical budgets for the method and its ablations
    assert main(["train", "--config", str(CONFIG_DIR / "exo2egosyn.yaml"), "--print-config"]) == 0
    assert '"stage": "adapters"' in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown config keys"):
        load_config({"stage": "vae", "output_dir": "x", "nope": 1})


def test_shipped_checkpoints_are_used_by_default():
    """With the shipped weights present, the benchmark's generators load them without a warning."""
    import warnings

    from exo2egosyn import generator as gen_mod
    from exo2egosyn.testing import synthetic_inputs

    if not (gen_mod.TINY_BACKBONE_DIR / "model_index.json").is_file():
        pytest.skip("no shipped tiny backbone in exo2egosyn/checkpoints/tiny-wan")
    x = synthetic_inputs(num_views=4, num_frames=9, seed=1)
    for name in ("exo2egosyn", "exo2egosyn-no-align", "exo2egosyn-no-multiexocon", "exo2egosyn-no-poseinj"):
        if not (gen_mod.CHECKPOINT_ROOT / name).is_dir():
            continue
        g = gen_mod.Exo2EgoSynGenerator(num_inference_steps=2, **{
            f"use_{m}": f"no-{m}" not in name for m in ("align", "multiexocon", "poseinj")})
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            warnings.filterwarnings("ignore", message=".*(non-writable|kept in float32).*")
            g.pipeline  # noqa: B018
        cfg = g.config()
        assert cfg["trained"] is True and cfg["backbone_dir"] == str(gen_mod.TINY_BACKBONE_DIR)
        assert len(g.checkpoint_sha256()) == 64
        assert g.generate(x, seed=0).shape == (9, 64, 64, 3)
        assert (gen_mod.CHECKPOINT_ROOT / name / "MODEL_CARD.md").is_file()


def test_learning_rate_schedule_is_warmup_then_step_decay():
    """lr_decay [[step, factor], ...]: from each milestone on, the rate is multiplied by its factor."""
    from exo2egosyn.train import lr_factor

    f = lr_factor({"warmup_steps": 4, "lr_decay": [[10, 0.5], [6, 0.25]]})
    assert [f(k) for k in (0, 3, 5, 6, 9, 10, 100)] == [0.25, 1.0, 1.0, 0.25, 0.25, 0.125, 0.125]
    assert lr_factor({"warmup_steps": 0, "lr_decay": []})(0) == 1.0
    with pytest.raises(ValueError, match="lr_decay must be a list of"):
        lr_factor({"warmup_steps": 0, "lr_decay": [5]})


def test_set_overrides_config_entries_and_bad_ones_are_usage_errors(capsys):
    """--set KEY=VALUE: dotted keys, YAML values, recorded in the resolved config; a bad one exits 2."""
    import json

    cfg = str(CONFIG_DIR / "exo2egosyn.yaml")
    assert main(["train", "--config", cfg, "--print-config", "--set", "train.steps=3000",
                 "--set", "adapters.stage1_steps=1200", "--set", "data.n_clips=null"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["train"]["steps"] == 3000 and resolved["adapters"]["stage1_steps"] == 1200
    assert resolved["data"]["n_clips"] is None and resolved["train"]["batch_size"] == 4  # the rest from the file
    for bad, why in (("train.steps", "KEY=VALUE"), ("nope.x=1", "unknown config key"),
                     ("train.steps.x=1", "not a section")):
        assert main(["train", "--config", cfg, "--print-config", "--set", bad]) == 2
        assert why in capsys.readouterr().err


def test_stage_two_can_condition_on_the_true_first_frame(tiny_synth, backbone, tmp_path, capsys):
    """adapters.true_first_frame = p conditions each stage-2 sample on the true ego first-frame latent with
    probability p instead of Align's prediction: stage 1 is the same, stage 2 learns from other conditions.
    Out of [0, 1] it is a usage error (exit 2)."""
    runs = {}
    for p in (0.0, 1.0):
        cfg = _cfg("adapters", tiny_synth, backbone, tmp_path, f"tff-{p}", steps=6, save_every=10)
        cfg["adapters"]["true_first_frame"] = p
        s = train(cfg, progress=False)
        assert s["finished"]
        runs[p] = (s["losses"], _safetensors(tmp_path / f"tff-{p}"))
    (loss0, w0), (loss1, w1) = runs[0.0], runs[1.0]
    assert loss0["align"] == loss1["align"] and loss0["flow"] != loss1["flow"]
    align = [k for k in w0 if k.startswith("align")]
    assert align and all(torch.equal(w0[k], w1[k]) for k in align)
    assert any(not torch.equal(w0[k], w1[k]) for k in w0 if k.startswith("transformer_lora"))
    bad = ["train", "--config", str(CONFIG_DIR / "exo2egosyn.yaml"), "--print-config",
           "--set", "adapters.true_first_frame=1.5"]
    assert main(bad) == 2 and "adapters.true_first_frame must be a probability" in capsys.readouterr().err
