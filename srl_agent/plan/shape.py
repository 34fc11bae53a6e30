"""A decoder-only transformer's shape (from its `config.json`) and the parameter counts the plan is built on.

Counts follow the Qwen2 / Llama layout: embeddings, then per layer q/k/v/o projections (q/k/v with bias when the config
says so), a SwiGLU MLP (gate, up, down) and two RMSNorms, then a final norm and the LM head (tied or not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError


@dataclass(frozen=True, slots=True)
class ModelShape:
    name: str
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied_embeddings: bool
    qkv_bias: bool = True

    @property
    def kv_dim(self) -> int:
        """Width of the key (or value) projection: GQA shares kv_heads among the heads."""
        return self.kv_heads * self.head_dim

    @property
    def layer_params(self) -> int:
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_dim
        attention = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        return attention + 3 * h * self.intermediate + 2 * h

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def params(self) -> int:
        return self.embedding_params + self.layers * self.layer_params + self.hidden

    @property
    def non_embedding_params(self) -> int:
        """The params a token's matmuls touch (the 6N of training FLOPs), LM head included: it runs on every
        trained token too (only on completion tokens here, see `speed`)."""
        return self.layers * self.layer_params

    def lora_params(self, rank: int) -> int:
        """Adapter parameters for LoRA on every linear layer of the decoder ("all-linear"; the LM head excluded)."""
        h, q, kv, i = self.hidden, self.heads * self.head_dim, self.kv_dim, self.intermediate
        per_layer = (h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h)
        return self.layers * rank * per_layer

    def kv_cache_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_dim * dtype_bytes


def shape_from_config(config: dict[str, Any], name: str) -> ModelShape:
    """The shape of an HF `config.json` (Qwen2, Llama, Mistral, SmolLM2 … : any config with these standard keys)."""
    try:
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        return ModelShape(
            name=name,
            vocab=int(config["vocab_size"]),
            hidden=hidden,
            intermediate=int(config["intermediate_size"]),
            layers=int(config["num_hidden_layers"]),
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
            qkv_bias=bool(config.get("attention_bias", config.get("model_type") == "qwen2")),
        )
    except KeyError as e:
        raise UserError(f"{name}: config has no {e.args[0]!r}; the plan needs a decoder-only transformer config "
                        "(hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size)") from e


def load_shape(name: str) -> ModelShape:
    """The shape of `name`: "tiny", "smollm2-135m", a shipped real config (`srl_agent.models.real`: by its Hub name or short name), a
    local model directory, or a Hub name in the local cache. Reads only the config: no weights."""
    from srl_agent.models.real import HUB_NAMES, REAL_MODELS, real_config_dict

    if name == "tiny":
        from srl_agent.models.tiny import tiny_model_config, tiny_tokenizer

        return shape_from_config(tiny_model_config(len(tiny_tokenizer())).to_dict(), "tiny")
    from srl_agent.models.load import resolve_name

    local = Path(resolve_name(name))  # built-in names ("smollm2-135m") are converted checkpoints
    if (local / "config.json").is_file():
        return shape_from_config(json.loads((local / "config.json").read_text()), name)
    shipped = {short: short for short in REAL_MODELS} | {hub.lower(): short for short, hub in HUB_NAMES.items()}
    if name.lower() in shipped:
        return shape_from_config(real_config_dict(shipped[name.lower()]), name)
    try:
        from transformers import AutoConfig

        from srl_agent.models.load import hub_reachable

        return shape_from_config(AutoConfig.from_pretrained(name, local_files_only=not hub_reachable()).to_dict(), name)
    except (OSError, ValueError) as e:
        raise UserError(f"no config for model {name!r}: not a local directory with config.json, not shipped "
                        f"(shipped: tiny, {', '.join(REAL_MODELS)}), and not in the Hugging Face cache") from e
