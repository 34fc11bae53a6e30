"""A non-finite loss on one rank only (run by tests/test_train_ddp.py): every rank must stop, together.

Every process builds the same 4 groups (tests/ddp_global_norm.py); rank 0 trains on 3 and rank 1 on 1, or one
process on all 4. In the last group one member's sampler logprobs hold -inf (corrupt sampler output): its PPO ratio
exp(logp - old) is inf and, with a negative advantage, so is its real loss through the real model, on rank 1 only.
Rank 0's losses are finite, and without agreement it would wait forever in the all-reduce that rank 1 never joins.

Each rank writes OUT/raised_{world}_rank{R}.txt (the NonFiniteLoss message) and OUT/unchanged_{world}_rank{R}.txt
(no weight moved), after the collectives that the training loop's handler runs (a checkpoint save).

    accelerate launch --config_file docs/accelerate/ddp.yaml --num_processes 2 tests/ddp_nonfinite.py OUT
    python tests/ddp_nonfinite.py OUT
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from ddp_global_norm import SHARES, groups_for

from srl_agent.models.load import ModelSpec, load_policy
from srl_agent.train.config import resolve_config
from srl_agent.train.distributed import shutdown, weights_digest
from srl_agent.train.grpo import NonFiniteLoss, minibatches, train_on_sequences
from srl_agent.train.runs import Run

torch.set_num_threads(1)


def main(out: Path) -> None:
    accelerator = Accelerator(cpu=True)
    world, rank = accelerator.num_processes, accelerator.process_index
    model, tok = load_policy(ModelSpec(name="tiny", seed=3))
    groups = groups_for(tok, model)
    last = groups[-1]
    bad = last.members_G[-1]  # reward -1.0: a negative advantage
    assert bad.reward < 0
    sample = bad.sequences[0]
    corrupt = dataclasses.replace(sample, logprobs=(-math.inf, *sample.logprobs[1:]))
    members = (*last.members_G[:-1], dataclasses.replace(bad, sequences=(corrupt,)))
    groups[-1] = dataclasses.replace(last, members_G=members)
    mine = groups if world == 1 else [groups[i] for i in SHARES[rank]]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    before = weights_digest(model)
    cfg = resolve_config(overrides=["group_size=4", "micro_batch_size=3", "save_every=1"])
    run = Run(cfg, out, accelerator, model, tok, optimizer, scheduler, None, 0)
    try:
        train_on_sequences(run, minibatches(mine, cfg, cfg.max_completion_tokens, accelerator))
        raised = "no"
    except NonFiniteLoss as e:
        raised = str(e)
        run.save(0, {"epoch": 0, "position": 0})  # the loop's handler: collectives that every rank must reach
    (out / f"raised_{world}_rank{rank}.txt").write_text(raised)
    (out / f"unchanged_{world}_rank{rank}.txt").write_text(str(weights_digest(model) == before))
    shutdown(accelerator)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
