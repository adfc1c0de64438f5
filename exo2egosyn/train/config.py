"""Training configs: :data:`DEFAULTS`, YAML loading, ``--set KEY=VALUE`` overrides, paths, the learning-rate
schedule."""

from __future__ import annotations

import copy
import os
from pathlib import Path


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
    # transformer (stage transformer): model = overrides of configs.TINY_TRANSFORMER. Empty: continue the
    # backbone's transformer. Non-empty: start from a fresh transformer of that architecture (in / out channels
    # follow the backbone VAE's z_dim), seeded by `seed` - to try a larger or smaller miniature transformer
    "transformer": {"model": {}},
    # adapters.true_first_frame: the probability that a stage-2 sample is conditioned on the true ego first-frame
    # latent instead of what exo-only inference gives (Align's prediction, or the closest exo view): 0 = always
    # the prediction (the shipped recipe; nothing more is drawn, so runs without it are unchanged)
    "adapters": {"use_align": True, "use_multiexocon": True, "use_poseinj": True, "lora_rank": 8,
                 "stage1_steps": 100, "stage1_lr": 1e-3, "stage2_lr": 5e-4, "cosine_weight": 0.0,
                 "module_seed": 0, "true_first_frame": 0.0},
}


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
    from ..configs import TINY_TRANSFORMER

    p = cfg["adapters"]["true_first_frame"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"adapters.true_first_frame must be a probability between 0 and 1, got {p!r}")
    unknown = sorted(set(cfg["transformer"]["model"] or {}) - set(TINY_TRANSFORMER))
    if unknown:
        raise ValueError(f"transformer.model: unknown key(s) {unknown}; known: {sorted(TINY_TRANSFORMER)}")
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


def resolve_paths(cfg: dict) -> dict:
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
