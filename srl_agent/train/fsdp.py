"""FSDP2 (`accelerate launch` with `distributed_type: FSDP`, `fsdp_version: 2`): the policy sharded over the processes.

    refuse_deepspeed()                           # an accelerate DeepSpeed launch stops here
    settings = requested(accelerator)            # None: not asked for (DDP, one process)
    refuse_unsupported(cfg, settings)            # before any weights load: LoRA, engine=vllm, FSDP1, offload
    model = shard(model, settings, bf16)         # fully_shard per decoder layer, then the root
    copy = rollout_copy(model_before_shard)      # a plain, unsharded copy that the rollout engine generates with
    refresh(model, copy)                         # after every optimizer step: gather full weights into it
    full_state_dict(model)                       # rank 0: every weight, full, on CPU (OUTPUT/final)
    save_sharded(path, model, optimizer) / load_sharded(...)   # resumable checkpoints, one shard per rank (DCP)

Parameters, gradients and AdamW states are DTensors sharded on dim 0 over the ranks (FSDP2's `fully_shard`); each
forward all-gathers a layer's parameters, each backward reduce-scatters its gradients (averaged over ranks, as DDP's
all-reduce averages: the loss normalisation of grpo.minibatches holds unchanged). bf16 is mixed precision as in the
unsharded run: fp32 sharded master weights, bf16 compute (param_dtype), fp32 gradient reduction (reduce_dtype).

Why srl-agent calls `fully_shard` itself instead of `accelerator.prepare`: accelerate applies FSDP to GPU processes
only (CPU processes silently become plain MULTI_CPU data parallelism), so its path could not be tested in CI on CPU,
and the run needs the same wrapping on both. accelerate still launches the processes, owns the process group and
reads the config file; its FSDP settings arrive here through the environment it exports (FSDP_*).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError


@dataclass(frozen=True)
class FSDPSettings:
    """What the accelerate config asked for (accelerate exports it as FSDP_* environment variables)."""

    version: int
    reshard_after_forward: bool
    layer_classes: tuple[str, ...]  # modules sharded as units (default: the model's `_no_split_modules`)
    offload_params: bool
    activation_checkpointing: bool


def _flag(name: str, default: str = "false") -> bool:
    return os.environ.get(name, default).strip().lower() in ("true", "1", "yes")


def refuse_deepspeed() -> None:
    """Before the Accelerator is built (it fails on a missing `deepspeed` package with a traceback)."""
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        raise UserError("accelerate DeepSpeed is not supported by `srl-agent train` (DeepSpeed clips and accumulates "
                        "gradients itself, which the GRPO step does per mini-batch): use FSDP2 "
                        "(docs/accelerate/fsdp.yaml) to shard a full fine-tune, or DDP (docs/accelerate/ddp.yaml)")


def requested(accelerator: Any) -> FSDPSettings | None:
    """The FSDP settings of the launch, or None when the run is not sharded."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type != DistributedType.FSDP and not _flag("ACCELERATE_USE_FSDP"):
        return None
    layers = tuple(c.strip() for c in os.environ.get("FSDP_TRANSFORMER_CLS_TO_WRAP", "").split(",") if c.strip())
    return FSDPSettings(version=int(os.environ.get("FSDP_VERSION", "1")),
                        reshard_after_forward=_flag("FSDP_RESHARD_AFTER_FORWARD", "true"), layer_classes=layers,
                        offload_params=_flag("FSDP_OFFLOAD_PARAMS"),
                        activation_checkpointing=_flag("FSDP_ACTIVATION_CHECKPOINTING"))


def refuse_unsupported(cfg: Any, settings: FSDPSettings) -> None:
    """One line with the fix, before any weights load."""
    config = "docs/accelerate/fsdp.yaml"
    if settings.version != 2:
        raise UserError(f"FSDP version {settings.version} is not supported by `srl-agent train`: set fsdp_version: 2 "
                        f"in the accelerate config (see {config})")
    if cfg.finetune == "lora":
        raise UserError("finetune=lora with FSDP is not supported (the adapters are small: there is nothing worth "
                        "sharding): launch LoRA with DDP (docs/accelerate/ddp.yaml), or use finetune=full with FSDP")
    if cfg.engine == "vllm":
        raise UserError("engine=vllm (in-process) with FSDP is not supported (each rank would start a vLLM engine "
                        "beside its shard): use engine=hf, or engine=vllm-server with a separate vLLM server")
    if settings.offload_params:
        raise UserError(f"fsdp_offload_params: true is not supported by `srl-agent train`: set it to false in {config}")
    if settings.activation_checkpointing:
        raise UserError(f"fsdp_activation_checkpointing: true is not supported: set it to false in {config} and pass "
                        "gradient_checkpointing=true to the train config instead")


def is_sharded(model: Any) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def shard(model: Any, settings: FSDPSettings, bf16: bool) -> Any:
    """fully_shard each decoder layer (one all-gather per layer in forward and backward), then the root (embeddings,
    final norm, LM head: tied embeddings stay one parameter in one unit). Parameters are fp32 master weights.

    Every rank then takes rank 0's weights (as DDP broadcasts at wrap time): with `fsdp_cpu_ram_efficient_loading`
    transformers' from_pretrained loads the checkpoint on local rank 0 only and leaves zeros on the other ranks."""
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.distributed.tensor import distribute_tensor

    names = set(settings.layer_classes or getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise UserError(f"FSDP: no module of class {sorted(names)} in {type(model).__name__}: set "
                        "fsdp_transformer_layer_cls_to_wrap to the model's decoder layer class in the accelerate config")
    # bf16: compute in bf16 (parameters all-gathered in bf16), gradients reduce-scattered and kept in fp32.
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else MixedPrecisionPolicy()
    loaded = {name: p.detach() for name, p in model.named_parameters()}  # this rank's values, before sharding
    for layer in layers:
        fully_shard(layer, mp_policy=policy, reshard_after_forward=settings.reshard_after_forward)
    fully_shard(model, mp_policy=policy, reshard_after_forward=False)  # the root's forward ends where backward starts
    with torch.no_grad():
        for name, param in model.named_parameters():  # one full parameter at a time on the device
            shard = distribute_tensor(loaded.pop(name).to(param.device), param.device_mesh, param.placements, src_data_rank=0)
            param.to_local().copy_(shard.to_local())
        for buffer in model.buffers():  # not sharded: each rank holds its own (rotary frequencies, ...)
            dist.broadcast(buffer, src=0)
    return model


def rollout_copy(model: Any, bf16: bool) -> Any:
    """A plain copy of the (not yet sharded) policy for generation, in the compute dtype.

    Why a copy: ranks sample different prompts and stop at different lengths, and every forward of the sharded
    module is a collective (one all-gather per layer), so generating with it would deadlock (or, padded to the
    longest rank, all-gather every layer for every token). The copy generates without communication. Its cost is one
    full set of weights per process in the compute dtype (2 bytes a parameter in bf16: 15 GB for a 7.6B model),
    plus, during `refresh`, one full parameter at a time."""
    import copy

    import torch

    # The memo hands deepcopy each parameter already in the compute dtype: no transient fp32 duplicate of the model
    # (tied parameters are one object, so they stay tied).
    dtype = torch.bfloat16 if bf16 else None
    memo = {id(p): torch.nn.Parameter(p.detach().to(dtype=dtype, copy=True), requires_grad=False) for p in model.parameters()}
    return copy.deepcopy(model, memo).eval()


def refresh(model: Any, copy: Any) -> Any:
    """Copy the sharded policy's current weights into `copy`, one parameter at a time (each all-gathered, copied,
    freed): every rank must call it at the same point. Returns `copy`."""
    import torch
    from torch.distributed.tensor import DTensor

    targets = dict(copy.named_parameters())
    buffers = dict(copy.named_buffers())
    with torch.no_grad():
        for name, param in model.named_parameters():
            full = param.full_tensor() if isinstance(param, DTensor) else param
            targets[name].copy_(full)
            del full
        for name, buffer in model.named_buffers():  # plain tensors, the same on every rank after `shard`
            buffers[name].copy_(buffer)
    return copy


def full_state_dict(model: Any) -> dict[str, Any]:
    """Every weight of the sharded policy, full and on CPU, on rank 0 (an empty dict on the others); a collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def save_full(model: Any, path: Path, tokenizer: Any, is_main: bool) -> None:
    """`save_pretrained` layout from the gathered weights (rank 0 writes; every rank must call)."""
    state = full_state_dict(model)
    # Tied weights (embeddings = LM head) are one parameter under two names: keep the first, as save_pretrained does.
    seen: set[int] = set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in seen:
            state.pop(name, None)
        seen.add(id(tensor))
    if is_main:
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(path, state_dict=state)
        tokenizer.save_pretrained(path)


def save_sharded(path: Path, model: Any, optimizer: Any) -> None:
    """Model and AdamW state, each rank writing its own shard (torch.distributed.checkpoint); every rank calls."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=str(path))


def load_sharded(path: Path, model: Any, optimizer: Any) -> None:
    """The inverse of save_sharded, into the freshly sharded policy and its new AdamW; every rank calls."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optim_state}
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
