"""The gradient of one GRPO update when ranks hold different numbers of groups (run by tests/test_train_ddp.py).

Every process builds the same 4 groups (same seed, CPU: deterministic); with 2 processes rank 0 trains on 3 of them
and rank 1 on 1, with 1 process it trains on all 4. Writes OUT/grads_{world_size}_{loss_agg}.pt: the gradient after
the all-reduce (SGD at lr 0 keeps the weights, a huge max_grad_norm keeps the gradient unclipped).

    accelerate launch --config_file docs/accelerate/ddp.yaml --num_processes 2 tests/ddp_global_norm.py OUT
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
from srl_agent.train.distributed import shutdown
from srl_agent.train.grpo import minibatches, train_on_sequences
from srl_agent.train.runs import Run
from srl_agent.train.sources import Group, Member

torch.set_num_threads(1)
SHARES = {0: [0, 1, 2], 1: [3]}  # uneven: 3 groups on rank 0, 1 on rank 1


def groups_for(tok, model) -> list[Group]:
    engine = make_engine("hf", model, tok)
    groups = []
    for k, text in enumerate(["list the files", "run the tests", "show the diff of src/core.py", "open README.md"]):
        prompt = encode_prompt(tok, [{"role": "user", "content": text}])
        samples = engine.generate([prompt], 4, SamplingParams(1.0, 6 + 5 * k), seed=k)[0]  # different lengths
        members = tuple(Member((s,), r) for s, r in zip(samples, [1.0, 0.2 * k, 0.0, -1.0], strict=True))
        groups.append(Group(None, tuple(prompt), members, kept=True))
    return groups


def main(out: Path) -> None:
    accelerator = Accelerator(cpu=True)
    model, tok = load_policy(ModelSpec(name="tiny", seed=3))
    groups = groups_for(tok, model)
    world, rank = accelerator.num_processes, accelerator.process_index
    mine = groups if world == 1 else [groups[i] for i in SHARES[rank]]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    for loss_agg in ("grpo", "dapo", "dr_grpo"):
        cfg = resolve_config(overrides=["group_size=4", "micro_batch_size=3", "max_grad_norm=1e9", f"loss_agg={loss_agg}"])
        run = Run(cfg, out, accelerator, model, tok, optimizer, scheduler, None, 0)
        train_on_sequences(run, minibatches(mine, cfg, cfg.max_completion_tokens, accelerator))
        if accelerator.is_main_process:
            torch.save([p.grad.detach().clone() for p in model.parameters()], out / f"grads_{world}_{loss_agg}.pt")
    shutdown(accelerator)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
