"""Supervised steps: the SRL warm start on the expert actions (not in the paper; for models that cannot yet write the
answer format), and `sft_loss`, the token-mean cross-entropy that the SFT baseline (sft_method.py) trains with too
(with several processes: the mean over every rank's target tokens).

Target of an instance: `answer.encode_completion(sft_think, expert_action)`, i.e.
`<think>\\n{sft_think}\\n</think>\\n{expert_action}<EOS>`: the one answer format the SFT baseline and the scripted
policies write too. Cross-entropy on the target tokens only, token-mean over the batch. The prompt ids are the same
ones SRL samples from.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from srl_agent.answer import encode_completion
from srl_agent.errors import UserError
from srl_agent.rollout import Sample
from srl_agent.train.dataset import TrainPrompt


def sft_target_ids(tokenizer: Any, prompt: TrainPrompt, think: str) -> tuple[int, ...]:
    return encode_completion(tokenizer, think, prompt.instance.expert_action)


def run_sft(cfg: Any, model: Any, tokenizer: Any, prompts: list[TrainPrompt], accelerator: Any, log: Any = None) -> list[dict[str, float]]:
    """cfg.warm_start.steps AdamW steps at its lr (constant) on random expert instances; one metrics row per step."""
    import torch

    from srl_agent.train.distributed import problems_on_any_rank, reduce_metrics
    from srl_agent.train.fsdp import is_sharded

    ws = cfg.warm_start  # sft_steps, sft_lr, sft_batch_size, sft_think
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=ws.lr)
    if not is_sharded(model):  # FSDP2: a plain AdamW on the shards (accelerate prepares FSDP2 optimizers with their model)
        optimizer = accelerator.prepare(optimizer)
    rng = random.Random(cfg.seed + 7919 * (accelerator.process_index + 1))
    targets = {id(p): sft_target_ids(tokenizer, p, ws.think) for p in prompts}
    rows = []
    for step in range(1, ws.steps + 1):
        t0 = time.perf_counter()
        batch = [rng.choice(prompts) for _ in range(ws.batch_size)]
        # Reuse the rollout packing: a "sample" whose completion is the expert target.
        samples = [Sample(p.prompt_ids, targets[id(p)], (0.0,) * len(targets[id(p)]), "", True) for p in batch]
        optimizer.zero_grad(set_to_none=True)
        total = sft_loss(model, samples, tokenizer.pad_token_id, accelerator, cfg.micro_batch_size)
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        problem = None if math.isfinite(float(grad_norm)) and math.isfinite(total) else f"loss {total}, grad norm {float(grad_norm)}"
        problem = problems_on_any_rank(accelerator, problem)  # every rank stops together
        if problem is not None:
            raise UserError(f"the SFT warm start stopped at step {step}: {problem}; lower sft_lr")
        optimizer.step()
        # One row for all ranks: the loss averaged over ranks is the token mean of every rank's batch.
        row = reduce_metrics(accelerator, {"sft_step": step, "sft_loss": total, "grad_norm": float(grad_norm),
                                           "time_s": time.perf_counter() - t0})
        rows.append(row)
        if log is not None:
            log(row)
    return rows


def sft_loss(model: Any, sequences: list[Sample], pad_id: int, accelerator: Any, micro_batch_size: int, backward: bool = True) -> float:
    """Token-mean cross-entropy over the turn tokens of `sequences`, gradients accumulated over micro-batches.

    With several processes the mean is over every rank's tokens: each rank divides its token sum by the token count
    of all ranks, times the world size R because DDP / FSDP2 average gradients over ranks, so R ranks holding
    different numbers of target tokens give exactly the gradient of one process on their union (a per-rank mean
    would weigh a rank's 40 tokens as much as another's 4000). The returned value is this rank's share: its mean over
    ranks (distributed.reduce_metrics) is the union's token mean. Every rank runs as many passes as the rank with the
    most chunks (FSDP2: each forward is a collective); the extra ones are zero losses."""
    import contextlib

    import torch

    from srl_agent.train.distributed import max_over_ranks, no_sync, sum_over_ranks, zero_loss
    from srl_agent.train.tensors import pack, token_logprobs

    ranks = accelerator.num_processes
    n_tokens = max(1, int(sum_over_ranks(accelerator, [sum(len(s.completion_ids) for s in sequences)])[0]))
    total = 0.0
    chunks = [sequences[i : i + micro_batch_size] for i in range(0, len(sequences), micro_batch_size)]
    passes = max_over_ranks(accelerator, len(chunks))
    for k in range(len(chunks), passes):  # padding passes go first: the last pass of every rank synchronises
        with no_sync(accelerator, model) if backward and (chunks or k < passes - 1) else contextlib.nullcontext():
            with contextlib.nullcontext() if backward else torch.no_grad():
                loss = zero_loss(model, pad_id, accelerator.device)
            if backward:
                accelerator.backward(loss)
    for k, chunk in enumerate(chunks):
        batch = pack(chunk, pad_id, accelerator.device)
        sync = contextlib.nullcontext() if k == len(chunks) - 1 or not backward else no_sync(accelerator, model)
        grad = contextlib.nullcontext() if backward else torch.no_grad()
        with sync:  # DDP reads it in forward, FSDP2 in backward: both run inside
            with grad, accelerator.autocast():
                logprobs_B_L = token_logprobs(model, batch)  # position t: log p(token_t | tokens_<t)
                # completion_mask_B_L is 1 on the turn's tokens only: system, issue, history and padding get no loss.
                loss = -(logprobs_B_L * batch.completion_mask_B_L).sum() * ranks / n_tokens
            if backward:
                accelerator.backward(loss)
        total += loss.item()
    return total
