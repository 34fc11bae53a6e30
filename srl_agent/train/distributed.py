"""Several training processes (`accelerate launch` / torchrun, DDP): what the step needs to keep ranks in lock-step.

Each rank samples and scores its own prompts (disjoint slices of one permutation), so ranks can keep different numbers
of groups. DDP all-reduces gradients inside `backward`: every rank must run the same number of all-reducing backward
passes, or the ranks that ran more wait forever. The step therefore agrees on the number of mini-batches first
(`max_over_ranks`), and a rank with nothing left to train joins each all-reduce with zero gradients (`zero_loss`).

FSDP2 (train/fsdp.py) is stricter: every forward is a collective too (it all-gathers each layer's parameters), so
every rank must also run the same number of forward passes: micro-batches are padded to the most any rank has.

With one process every function here is a no-op (or returns its input).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

# Step metrics that add up over ranks (the rest are averaged over ranks; times take the slowest rank).
SUMMED = ("prompts_sampled", "prompts_filtered", "prompts_kept", "completion_tokens", "trained_tokens", "tokens_per_s",
          "sequences", "target_tokens")


def no_sync(accelerator: Any, model: Any) -> Any:
    """A context in which backward accumulates gradients without communicating (DDP: no all-reduce; FSDP2: no
    reduce-scatter, the unsharded gradients accumulate until the next synchronised backward)."""
    from srl_agent.train.fsdp import is_sharded

    if not is_sharded(model):
        return accelerator.no_sync(model)
    import contextlib

    @contextlib.contextmanager
    def unsynced() -> Any:
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)

    return unsynced()


def max_over_ranks(accelerator: Any, value: int) -> int:
    if accelerator.num_processes == 1:
        return value
    import torch

    return int(accelerator.gather(torch.tensor([value], device=accelerator.device)).max())


def sum_over_ranks(accelerator: Any, values: list[float]) -> list[float]:
    """Element-wise sums over ranks (every rank passes a list of the same length)."""
    if accelerator.num_processes == 1:
        return list(values)
    import torch

    local = torch.tensor([list(values)], dtype=torch.float64, device=accelerator.device)
    return accelerator.gather(local).sum(0).tolist()


def problems_on_any_rank(accelerator: Any, problem: str | None) -> str | None:
    """Every rank's `problem` (None: this rank has none) -> the same answer on every rank: None when no rank has one,
    else each reporting rank's, prefixed with its rank. A collective: every rank calls it at the same point, so a
    rank that must stop (a non-finite loss) stops with all the others instead of leaving them in the next collective.
    One process: `problem` itself."""
    if accelerator.num_processes == 1:
        return problem
    import torch
    from accelerate.utils import gather_object

    flags_R = accelerator.gather(torch.tensor([problem is not None], dtype=torch.int64, device=accelerator.device))
    if not bool(flags_R.any()):
        return None
    return "; ".join(f"rank {r}: {p}" for r, p in enumerate(gather_object([problem])) if p is not None)


def zero_loss(model: Any, pad_id: int, device: Any) -> Any:
    """A loss of exactly 0 that still runs DDP's gradient all-reduce and FSDP2's all-gathers and reduce-scatter
    (every parameter gets a zero gradient)."""
    import torch

    logits = model(input_ids=torch.tensor([[pad_id]], device=device), use_cache=False).logits
    return logits.sum() * 0.0


def reduce_metrics(accelerator: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    """One metrics row for the whole step: counts summed over ranks, times maxed, everything else averaged."""
    if accelerator.num_processes == 1:
        return metrics
    import torch

    keys = sorted(k for k, v in metrics.items() if isinstance(v, int | float))
    local_K = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=accelerator.device)
    all_R_K = accelerator.gather(local_K.unsqueeze(0)).cpu()
    out = dict(metrics)
    for k, column_R in zip(keys, all_R_K.T, strict=True):
        if k in SUMMED:
            value = column_R.sum().item()
            out[k] = int(value) if isinstance(metrics[k], int) else value
        else:
            out[k] = (column_R.max() if k.startswith("time_") else column_R.mean()).item()
    if "prompts_sampled" in out:  # GRPO steps (not the SFT ones)
        out["filtered_fraction"] = out["prompts_filtered"] / max(1, out["prompts_sampled"])
    return out


def gather_rows(accelerator: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """samples.jsonl rows from every rank (each tagged with its rank), in rank order, for the main process to write."""
    rows = [{**row, "rank": accelerator.process_index} for row in rows]
    if accelerator.num_processes == 1:
        return rows
    from accelerate.utils import gather_object

    return gather_object(rows)


def weights_digest(model: Any) -> str:
    """sha256 of every parameter's bytes, in name order: equal digests mean bitwise-identical replicas."""
    import torch

    from srl_agent.rollout.hf import unwrap

    digest = hashlib.sha256()
    for name, param in sorted(unwrap(model).named_parameters()):
        digest.update(name.encode())
        digest.update(param.detach().contiguous().view(-1).view(torch.uint8).cpu().numpy().tobytes())
    return digest.hexdigest()


def check_replicas(accelerator: Any, model: Any, output: Path) -> list[str] | None:
    """Under DDP, every rank must end with the same weights; write OUTPUT/replicas.json and fail loudly if not.

    Skipped for FSDP (its ranks hold different shards by design) and for a single process."""
    from accelerate.utils import DistributedType, gather_object

    from srl_agent.train.fsdp import is_sharded

    if (accelerator.num_processes == 1 or is_sharded(model)
            or accelerator.distributed_type not in (DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)):
        return None
    digests = gather_object([weights_digest(model)])
    if accelerator.is_main_process:
        import json

        (output / "replicas.json").write_text(json.dumps({"world_size": accelerator.num_processes, "weights_sha256": digests}, indent=2) + "\n")
    if len(set(digests)) != 1:
        from srl_agent.errors import UserError

        raise UserError(f"the {len(digests)} DDP replicas ended with different weights ({output / 'replicas.json'}): gradients "
                        "were not all-reduced; please report this with the command line and accelerate config")
    return digests


def shutdown(accelerator: Any, engine: Any = None) -> None:
    """End a run's process group explicitly: left to interpreter exit, gloo's threads can abort a finished rank
    ("terminate called without an active exception"), which fails the launcher. The rollout engine goes first
    (`close()`, if it has one): vLLM's groups live inside this process group, and destroying them after it (vLLM's own
    exit hook) fails with "Invalid process group specified"."""
    import torch.distributed as dist

    accelerator.wait_for_everyone()
    close = getattr(engine, "close", None)
    if close is not None:
        close()
    # Only a launched multi-process run owns the process group; a single-process run must not destroy one that
    # something else in this process made (an in-process vLLM engine that is still in use, in tests or notebooks).
    if accelerator.num_processes > 1 and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
