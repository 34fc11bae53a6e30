"""GRPO updates under FSDP2 against one process on the union of the ranks' groups (run by tests/test_train_fsdp.py).

Every process builds the same 4 groups (tests/ddp_global_norm.py: same seed, CPU, deterministic); with 2 processes
the policy is sharded with FSDP2 (train/fsdp.py), rank 0 trains on 3 groups and rank 1 on 1 (uneven, as dynamic
sampling leaves them: rank 1 pads its micro-batches with zero-loss passes), with 1 process the unsharded policy
trains on all 4. The policy is loaded from a saved directory (from_pretrained: under fsdp.yaml rank 1 gets zeros,
see train/fsdp.shard). Three AdamW updates (lr 1e-3) per loss aggregation, shared-prompt packing on. Writes
OUT/fsdp_{world_size}_{loss_agg}.pt: the step losses (averaged over ranks, as metrics.jsonl reports them) and the
full weights after the updates; with 2 processes also whether the rollout copy equals the gathered weights bitwise.

    accelerate launch --config_file docs/accelerate/fsdp.yaml --num_processes 2 tests/fsdp_equivalence.py OUT [bf16]
    python tests/fsdp_equivalence.py OUT [bf16]

With `bf16`: mixed precision (as `dtype=bfloat16` trains): fp32 master weights, bf16 compute (FSDP2's param_dtype;
one process: autocast), dapo only, files OUT/fsdp_{world_size}_dapo_bf16.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from ddp_global_norm import SHARES, groups_for

from srl_agent.models.load import ModelSpec, load_policy
from srl_agent.train import fsdp
from srl_agent.train.config import resolve_config
from srl_agent.train.distributed import reduce_metrics, shutdown
from srl_agent.train.grpo import minibatches, train_on_sequences
from srl_agent.train.runs import Run

torch.set_num_threads(1)
UPDATES = 3


def main(out: Path, bf16: bool) -> None:
    accelerator = Accelerator(cpu=True, mixed_precision="bf16" if bf16 else "no")
    world, rank = accelerator.num_processes, accelerator.process_index
    settings = fsdp.requested(accelerator)
    assert (settings is not None) == (world > 1), "run with 2 processes under docs/accelerate/fsdp.yaml, or 1 plainly"
    model, tok = load_policy(ModelSpec(name="tiny", seed=3))
    groups = groups_for(tok, model)
    mine = groups if world == 1 else [groups[i] for i in SHARES[rank]]
    saved = out / f"tiny_{world}"
    if rank == 0:
        model.save_pretrained(saved)
        tok.save_pretrained(saved)
    accelerator.wait_for_everyone()
    for loss_agg in ("dapo",) if bf16 else ("grpo", "dapo", "dr_grpo"):
        # from_pretrained: under fsdp.yaml (fsdp_cpu_ram_efficient_loading) rank 1 loads zeros; sharding must
        # give it rank 0's weights.
        model, tok = load_policy(ModelSpec(name=str(saved)))
        loaded_zeros = all(bool((p == 0).all()) for p in model.parameters())
        copy = None
        if settings is not None:
            copy = fsdp.rollout_copy(model, bf16=bf16)
            model = fsdp.shard(model, settings, bf16=bf16)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        cfg = resolve_config(overrides=["group_size=4", "micro_batch_size=3", f"loss_agg={loss_agg}", "shared_prompt=true"])
        run = Run(cfg, out, accelerator, model, tok, optimizer, scheduler, None, 0, rollout_model=copy)
        losses = []
        for _ in range(UPDATES):
            metrics = train_on_sequences(run, minibatches(mine, cfg, cfg.max_completion_tokens, accelerator))
            losses.append(reduce_metrics(accelerator, {**metrics, "prompts_filtered": 0, "prompts_sampled": 1})["loss"])
        if settings is not None:
            weights = fsdp.full_state_dict(model)
            copy_exact = copy_dtype = None
            fsdp.refresh(model, copy)
            if rank == 0:  # in the compute dtype: bf16 rounds the fp32 master weights once
                copy_exact = all(torch.equal(p, weights[n].to(p.dtype)) for n, p in copy.named_parameters())
                copy_dtype = str(next(copy.parameters()).dtype)
        else:
            weights, copy_exact, copy_dtype = {n: p.detach().clone() for n, p in model.state_dict().items()}, None, None
        if rank == 0:
            torch.save({"losses": losses, "weights": weights, "copy_exact": copy_exact, "copy_dtype": copy_dtype},
                       out / f"fsdp_{world}_{loss_agg}{'_bf16' if bf16 else ''}.pt")
        if rank == 1:
            (out / "rank1_loaded_zeros.txt").write_text(str(loaded_zeros))
    shutdown(accelerator)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:] == ["bf16"])
