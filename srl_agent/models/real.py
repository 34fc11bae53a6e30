"""Real architectures without downloads: the shipped `config.json` + `generation_config.json` of the models srl-agent
is for, and random-init models built from them (full size, or fewer layers / narrower for CPU tests).

    REAL_MODELS                                  # ("qwen2.5-1.5b-instruct", "qwen2.5-coder-7b-instruct")
    config = real_config("qwen2.5-coder-7b-instruct", num_layers=2, width_divisor=4)
    model = random_init_model("qwen2.5-1.5b-instruct", num_layers=2, width_divisor=4, dtype="bfloat16", seed=0)
    gen = real_generation_config("qwen2.5-1.5b-instruct")   # the checkpoint's sampling defaults (repetition_penalty...)
    path = save_random_init("qwen2.5-1.5b-instruct", DIR, num_layers=1)  # a loadable checkpoint directory

Speed and memory depend only on the architecture, so these stand in for the real checkpoints wherever the weights'
values do not matter (memory plans, throughput, GQA, tied embeddings, the real vocabulary size).

Shrinking keeps what the code paths depend on: the head counts (so the GQA ratio q-heads : kv-heads is exact), tied or
untied embeddings, the real vocabulary size, rope/norm settings. `width_divisor` k divides hidden_size, head_dim and
intermediate_size by k (head_dim 128 -> 32 at k=4, the smallest vLLM's CPU attention accepts); `num_layers` cuts depth.
The files (in `srl_agent/models/configs/<name>/`) are the public values of the Hugging Face Hub repositories
Qwen/Qwen2.5-1.5B-Instruct and Qwen/Qwen2.5-Coder-7B-Instruct; their sources are listed in that folder's README.md.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError

REAL_MODELS = ("qwen2.5-1.5b-instruct", "qwen2.5-coder-7b-instruct")
HUB_NAMES = {"qwen2.5-1.5b-instruct": "Qwen/Qwen2.5-1.5B-Instruct",
             "qwen2.5-coder-7b-instruct": "Qwen/Qwen2.5-Coder-7B-Instruct"}


def _read(name: str, file: str) -> dict[str, Any]:
    if name not in REAL_MODELS:
        raise UserError(f"no shipped config for {name!r}; choose one of {', '.join(REAL_MODELS)}")
    return json.loads(resources.files("srl_agent.models").joinpath("configs", name, file).read_text(encoding="utf-8"))


def real_config_dict(name: str) -> dict[str, Any]:
    """The shipped config.json, unchanged."""
    return _read(name, "config.json")


def real_config(name: str, *, num_layers: int | None = None, width_divisor: int = 1) -> Any:
    """A transformers config of the real architecture, optionally with `num_layers` layers and 1/`width_divisor` width."""
    from transformers import AutoConfig

    values = real_config_dict(name)
    heads, kv_heads = values["num_attention_heads"], values["num_key_value_heads"]
    head_dim = values.get("head_dim") or values["hidden_size"] // heads
    if width_divisor < 1 or head_dim % width_divisor or (head_dim // width_divisor) % 2:
        raise UserError(f"width_divisor={width_divisor} must divide head_dim {head_dim} of {name} into an even size "
                        "(rotary embeddings rotate pairs); use 1, 2 or 4")
    if num_layers is not None:
        if not 1 <= num_layers <= values["num_hidden_layers"]:
            raise UserError(f"num_layers={num_layers} must be in 1..{values['num_hidden_layers']} for {name}")
        values["num_hidden_layers"] = num_layers
        values["max_window_layers"] = min(values.get("max_window_layers", num_layers), num_layers)
    values["hidden_size"] = heads * head_dim // width_divisor
    values["intermediate_size"] = values["intermediate_size"] // width_divisor
    values["head_dim"] = head_dim // width_divisor
    assert values["num_attention_heads"] // values["num_key_value_heads"] == heads // kv_heads  # GQA ratio kept
    model_type = values.pop("model_type")
    for key in ("architectures", "transformers_version", "torch_dtype"):
        values.pop(key, None)
    config = AutoConfig.for_model(model_type, **values)
    config.architectures = ["Qwen2ForCausalLM"]
    return config


def real_generation_config(name: str) -> Any:
    """The checkpoint's generation_config.json as a transformers GenerationConfig (sampling defaults included)."""
    from transformers import GenerationConfig

    values = _read(name, "generation_config.json")
    values.pop("transformers_version", None)
    return GenerationConfig(**values)


def random_init_model(name: str, *, num_layers: int | None = None, width_divisor: int = 1, dtype: str = "float32",
                      seed: int = 0, device: str = "cpu") -> Any:
    """A random-init causal LM of the real architecture (see `real_config`), with the checkpoint's generation config.

    device="meta" builds it without memory (shapes and parameter counts only, e.g. for a memory plan)."""
    import torch
    from transformers import AutoModelForCausalLM

    from srl_agent.models.load import resolve_dtype

    config = real_config(name, num_layers=num_layers, width_divisor=width_divisor)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=resolve_dtype(dtype))
    model.generation_config = real_generation_config(name)
    return model


def save_random_init(name: str, out_dir: str | Path, **options: Any) -> Path:
    """Write a random-init checkpoint (config.json, generation_config.json, weights) that from_pretrained loads.

    No tokenizer is written: the real one is not shipped; pair it with any tokenizer whose ids fit the vocabulary."""
    out = Path(out_dir)
    random_init_model(name, **options).save_pretrained(out)
    return out
