"""LoRA on the WAN transformer (peft through diffusers' ``PeftAdapterMixin``).

    add_lora(transformer, rank=16)           # adds adapter "default" on to_q / to_k / to_v / to_out.0
    save_lora(transformer, folder)           # folder/pytorch_lora_weights.safetensors (+ config in metadata)
    load_lora(transformer, folder)           # adds the adapter with the saved config and loads its weights
"""

from __future__ import annotations

import json
import os

LORA_TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"


def add_lora(transformer, rank: int = 16, alpha: float | None = None, target_modules=LORA_TARGET_MODULES,
             adapter_name: str = "default", dropout: float = 0.0):
    """Add a LoRA adapter (B initialized to zero by peft, so the model is unchanged) and return its config.

    Only the adapter's parameters are left trainable.
    """
    from peft import LoraConfig

    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank, lora_dropout=dropout,
                        target_modules=list(target_modules), init_lora_weights=True)
    transformer.add_adapter(config, adapter_name=adapter_name)
    return config


def lora_parameters(transformer):
    """The LoRA parameters (lora_A / lora_B) of a transformer, for an optimizer."""
    return [p for n, p in transformer.named_parameters() if "lora_" in n]


def save_lora(transformer, folder, adapter_name: str = "default") -> str:
    """Write the adapter's weights as safetensors (its LoraConfig goes into the file metadata and a json)."""
    transformer.save_lora_adapter(folder, adapter_name=adapter_name, weight_name=LORA_WEIGHT_NAME)
    cfg = transformer.peft_config[adapter_name].to_dict()
    cfg = {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True, default=str)
    return os.path.join(folder, LORA_WEIGHT_NAME)


def load_lora(transformer, folder, adapter_name: str = "default"):
    """Load an adapter saved by :func:`save_lora` into ``transformer`` (adds it if absent)."""
    from peft import LoraConfig
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = os.path.join(folder, LORA_WEIGHT_NAME)
    state = load_file(path)
    if adapter_name not in getattr(transformer, "peft_config", {}):
        with open(os.path.join(folder, "adapter_config.json")) as f:
            cfg = json.load(f)
        keep = {k: v for k, v in cfg.items() if k in LoraConfig.__dataclass_fields__}
        for drop in ("peft_type", "task_type", "base_model_name_or_path", "revision", "runtime_config"):
            keep.pop(drop, None)
        transformer.add_adapter(LoraConfig(**keep), adapter_name=adapter_name)
    result = set_peft_model_state_dict(transformer, state, adapter_name=adapter_name)
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ValueError(f"LoRA weights in {path} do not match the transformer: unexpected keys {unexpected[:5]}")
    return transformer
