"""One GRPO update under DDP where rank 0 kept a group and rank 1 kept none (run by tests/test_train_ddp.py).

Without the zero-gradient join, rank 0 would wait forever in its gradient all-reduce. Writes OUT/replicas.json and
OUT/changed_rank{R}.txt (did this rank's weights move?).

    accelerate launch --config_file docs/accelerate/ddp.yaml --num_processes 2 tests/ddp_uneven_step.py OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from accelerate import Accelerator

from srl_agent.answer import encode_prompt
from srl_agent.models.load import ModelSpec, load_policy
from srl_agent.rollout import SamplingParams, make_engine
from srl_agent.train.config import resolve_config
from srl_agent.train.distributed import check_replicas, max_over_ranks, shutdown
from srl_agent.train.grpo import minibatches, train_on_sequences
from srl_agent.train.runs import Run
from srl_agent.train.sources import Group, Member

torch.set_num_threads(1)


def main(out: Path) -> None:
    accelerator = Accelerator(cpu=True)
    cfg = resolve_config(overrides=["group_size=4", "lr=1e-2", "micro_batch_size=2"])
    model, tok = load_policy(ModelSpec(name="tiny", seed=3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    before = [p.detach().clone() for p in model.parameters()]
    groups = []
    if accelerator.process_index == 0:  # rank 0 kept one group with reward variance; rank 1 kept nothing
        prompt = encode_prompt(tok, [{"role": "user", "content": "list the files"}])
        samples = make_engine("hf", model, tok).generate([prompt], cfg.group_size, SamplingParams(1.0, 8), seed=1)[0]
        members = tuple(Member((s,), r) for s, r in zip(samples, [1.0, 0.0, 0.0, -1.0], strict=True))
        groups = [Group(None, tuple(prompt), members, kept=True)]
    minis = minibatches(groups, cfg, cfg.max_completion_tokens, accelerator)  # padded to the ranks' maximum
    assert len(minis) == 1 == max_over_ranks(accelerator, len(minis)), len(minis)
    run = Run(cfg, out, accelerator, model, tok, optimizer, scheduler, None, 0)
    train_on_sequences(run, minis)
    changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    (out / f"changed_rank{accelerator.process_index}.txt").write_text(str(changed))
    check_replicas(accelerator, model, out)
    shutdown(accelerator)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
