"""The SFT loss when ranks hold different numbers of target tokens (run by tests/test_train_ddp.py).

Part 1, the gradient of one `sft_loss` step: every process loads the same expert trajectories (swe_mini, turn
sequences in the eval format, the 4 whose prompts fit 700 tokens); with 2 processes rank 0 trains on 3 of them and rank 1 on 1 (uneven token counts and
micro-batch counts), with 1 process on all 4. Writes OUT/sft_grads_{world_size}.pt (the gradient after DDP's
all-reduce).

Part 2, the `--method sft` run itself (train_sft: 2 steps of 2 trajectories; each rank takes 1 a step): writes
OUT/sft_run_{world_size}/ with its metrics.jsonl, which must describe the whole step on every rank count.

    accelerate launch --config_file docs/accelerate/ddp.yaml --num_processes 2 tests/sft_global_norm.py OUT
    python tests/sft_global_norm.py OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from accelerate import Accelerator

from srl_agent.models.load import ModelSpec, load_policy
from srl_agent.train.config import resolve_config
from srl_agent.train.sft import sft_loss
from srl_agent.train.sft_method import load_sequences, train_sft

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
TRAJ = str(REPO / "trajectories" / "swe_mini.jsonl")
SHARES = {0: [0, 1, 2], 1: [3]}  # uneven: 3 trajectories (more tokens, more micro-batches) on rank 0, 1 on rank 1
CONTEXT = ["history_window=1", "max_observation_chars=200", "max_prompt_tokens=700", "progress=false"]


def main(out: Path) -> None:
    accelerator = Accelerator(cpu=True)
    world, rank = accelerator.num_processes, accelerator.process_index
    model, tok = load_policy(ModelSpec(name="tiny", seed=3))
    cfg = resolve_config(method="sft", overrides=CONTEXT)
    per_traj, _, _ = load_sequences([TRAJ], tok, cfg)
    mine = [s for i in (range(4) if world == 1 else SHARES[rank]) for s in per_traj[i]]
    model = accelerator.prepare(model)
    model.zero_grad(set_to_none=True)
    sft_loss(model, mine, tok.pad_token_id, accelerator, micro_batch_size=3)
    if rank == 0:
        torch.save([p.grad.detach().clone() for p in model.parameters()], out / f"sft_grads_{world}.pt")
    run_cfg = resolve_config(method="sft", overrides=[*CONTEXT, "batch_size=2", "epochs=0", "steps=2", "lr=1e-3",
                                                       "micro_batch_size=3", "save_every=0"], model="tiny")
    train_sft(run_cfg, [TRAJ], out / f"sft_run_{world}")  # ends with the process group closed


if __name__ == "__main__":
    main(Path(sys.argv[1]))
