"""SFT warm start on the expert actions (not in the paper; for models that cannot yet write the answer format).

Target of an instance: `<think>\\n{sft_think}\\n</think>\\n{expert_action}<EOS>`. Cross-entropy on the target tokens
only, token-mean over the batch. The prompt ids are the same ones SRL samples from.
"""

from __future__ import annotations

import random
import time
from typing import Any

from srl_agent.rollout import Sample
from srl_agent.train.data import TrainPrompt
from srl_agent.train.tensors import pack, token_logprobs


def sft_target_ids(tokenizer: Any, prompt: TrainPrompt, think: str) -> tuple[int, ...]:
    text = f"<think>\n{think}\n</think>\n{prompt.instance.expert_action}"
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"]) + (tokenizer.eos_token_id,)


def run_sft(cfg: Any, model: Any, tokenizer: Any, prompts: list[TrainPrompt], accelerator: Any, log: Any = None) -> list[dict[str, float]]:
    """cfg.sft_steps AdamW steps at cfg.sft_lr (constant) on random expert instances; returns one metrics row per step."""
    import torch

    optimizer = accelerator.prepare(torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.sft_lr))
    rng = random.Random(cfg.seed + 7919 * (accelerator.process_index + 1))
    targets = {id(p): sft_target_ids(tokenizer, p, cfg.sft_think) for p in prompts}
    rows = []
    for step in range(1, cfg.sft_steps + 1):
        t0 = time.perf_counter()
        batch = [rng.choice(prompts) for _ in range(cfg.sft_batch_size)]
        # Reuse the rollout packing: a "sample" whose completion is the expert target.
        samples = [Sample(p.prompt_ids, targets[id(p)], (0.0,) * len(targets[id(p)]), "", True) for p in batch]
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        n_tokens = sum(len(s.completion_ids) for s in samples)
        for i in range(0, len(samples), cfg.micro_batch_size):
            packed = pack(samples[i : i + cfg.micro_batch_size], tokenizer.pad_token_id, accelerator.device)
            with accelerator.autocast():
                logprobs_B_L = token_logprobs(model, packed)
                loss = -(logprobs_B_L * packed.completion_mask_B_L).sum() / n_tokens
            accelerator.backward(loss)
            total += loss.item()
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        row = {"sft_step": step, "sft_loss": total, "grad_norm": float(grad_norm), "time_s": time.perf_counter() - t0}
        rows.append(row)
        if log is not None:
            log(row)
    return rows
