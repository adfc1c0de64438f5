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

The package, in the order a run goes through it: ``config.py`` (defaults, YAML, ``--set`` overrides, paths,
learning-rate schedule), ``data.py`` (clips, latents and conditioning, cached by content), ``losses.py`` (the loss
module of each stage), ``loop.py`` (one phase on ``accelerate``), ``randomness.py`` and ``state.py`` (per-step
random draws, resume state), one file per stage (``vae_stage.py``, ``transformer_stage.py``,
``adapter_stage.py``), ``model_card.py`` (loss plots, hardware, the card). :func:`train` below dispatches.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .adapter_stage import first_frame_conditions, train_adapters
from .config import DEFAULTS, apply_overrides, load_config, lr_factor, resolve_paths
from .data import adapter_clip_inputs, build_cache, encode_latents, load_clips
from .losses import AlignStep, FlowStep, VAEStep, flow_inputs
from .model_card import final_losses, hardware_description, plot_losses, write_model_card
from .randomness import batch_indices, shifted_sigmas, step_generator
from .state import RunMismatchError, RunState, check_resume, run_identity
from .transformer_stage import train_transformer
from .vae_stage import frame_psnr_table, save_backbone, train_vae, vae_architecture, vae_frame_psnr, vae_reconstruct

__all__ = ["DEFAULTS", "AlignStep", "FlowStep", "RunMismatchError", "RunState", "VAEStep", "adapter_clip_inputs",
           "apply_overrides", "batch_indices", "build_cache", "encode_latents", "final_losses",
           "first_frame_conditions", "flow_inputs", "frame_psnr_table", "load_config", "lr_factor", "resolve_paths", "save_backbone",
           "shifted_sigmas", "step_generator", "train", "vae_architecture", "vae_frame_psnr", "vae_reconstruct"]


def train(config, *, stop_after: int | None = None, progress: bool = True) -> dict:
    """Run (or resume) the training described by ``config`` (YAML path or dict). Returns a summary dict.

    ``stop_after``: stop before global step ``stop_after`` (simulates an interruption; the state saved at the
    last ``save_every`` boundary is what a rerun resumes from).
    """
    from accelerate import Accelerator

    loaded = load_config(config)
    cfg = resolve_paths(loaded)
    cfg["_progress"] = progress
    torch.set_num_threads(int(cfg["threads"]))
    accelerator = Accelerator(mixed_precision=cfg["mixed_precision"], cpu=not torch.cuda.is_available())
    work = Path(cfg["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    state = RunState(work)
    meta = {"name": cfg["name"], "stage": cfg["stage"], "step": 0, "phase": None, "losses": {}, "wall_s": 0.0}
    clips, _ = load_clips(cfg)
    identity = run_identity(loaded, data_identity=clips.manifest_sha256)
    if state.exists():
        meta = state.meta()
        check_resume(work, meta.get("run_identity"), identity)
    meta["run_identity"] = identity
    # one entry per session (a resumed run may continue on other hardware): the card says where each part ran
    meta.setdefault("sessions", []).append({"from_step": int(meta["step"]), "hardware": hardware_description(),
                                            "threads": int(cfg["threads"]),
                                            "processes": int(accelerator.num_processes)})
    fn = {"vae": train_vae, "transformer": train_transformer, "adapters": train_adapters}[cfg["stage"]]
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
