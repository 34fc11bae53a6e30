"""One SRL step with GRPO, top to bottom: sample -> score -> filter -> advantages -> clipped surrogate -> update.

Shapes: P prompts kept in the batch, G completions per prompt, B sequences in a micro-batch, L padded length.

    1. Sample G completions per prompt at temperature 1.0 (token ids + their logprobs, from the rollout engine).
    2. Score each with the SRL reward: similarity of its action to the expert's action, -1 if malformed.
    3. Dynamic sampling: drop prompts whose G rewards are all (nearly) equal -- their advantages would be 0, so they
       only dilute the batch -- and sample more prompts until the batch holds `batch_size` prompts.
    4. Advantages: each reward relative to its own group, A_i = (r_i - mean(r)) / std(r).
    5. Loss: PPO's clipped surrogate on every completion token, aggregated per `loss_agg`, optional k3 KL to a frozen
       reference; gradients accumulate over micro-batches, the global norm is clipped, the optimizer steps.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

from srl_agent.reward import parse_completion, srl_rewards
from srl_agent.rollout import RolloutEngine, Sample, SamplingParams
from srl_agent.train.config import TrainConfig
from srl_agent.train.data import PromptSampler, TrainPrompt
from srl_agent.train.distributed import max_over_ranks
from srl_agent.train.tensors import pack, token_logprobs


@dataclass(frozen=True)
class Group:
    """One prompt with its G scored completions."""

    prompt: TrainPrompt
    samples: list[Sample]
    rewards_G: list[float]


class NonFiniteLoss(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the step's groups are attached for inspection."""

    def __init__(self, what: str, groups: list[Group]):
        super().__init__(what)
        self.groups = groups


def step_seed(seed: int, step: int, round_: int, rank: int) -> int:
    """Sampling seed of one generation round: a pure function of the position, so a resumed run samples the same."""
    return (seed * 1_000_003 + step * 1009 + round_ * 17 + rank) % (2**31)


# ---------------------------------------------------------------------------------------------------------------
# 1-3. Sample, score, filter


def collect_groups(
    cfg: TrainConfig, engine: RolloutEngine, prompts: list[TrainPrompt], sampler: PromptSampler, step: int, batch_prompts: int, rank: int = 0
) -> tuple[list[Group], dict[str, float]]:
    params = SamplingParams(cfg.temperature, cfg.max_completion_tokens)
    kept: list[Group] = []
    all_rewards: list[float] = []
    sampled = filtered = rounds = completion_tokens = 0
    t_generate = t_score = 0.0
    while len(kept) < batch_prompts and rounds < cfg.max_sampling_rounds:
        batch = [prompts[i] for i in sampler.take(batch_prompts - len(kept))]
        t0 = time.perf_counter()
        samples_P_G = engine.generate([p.prompt_ids for p in batch], cfg.group_size, params, step_seed(cfg.seed, step, rounds, rank))
        t1 = time.perf_counter()
        for prompt, samples_G in zip(batch, samples_P_G, strict=True):
            rewards_G = srl_rewards([s.text for s in samples_G], [prompt.instance.expert_action] * len(samples_G),
                                    mode=cfg.reward_mode, format_penalty=cfg.format_penalty)  # type: ignore[arg-type]
            all_rewards += rewards_G
            completion_tokens += sum(len(s.completion_ids) for s in samples_G)
            sampled += 1
            # Population std (divide by G), as the paper writes it. A group of identical rewards has zero advantage
            # everywhere: it would cost a forward/backward and contribute no gradient.
            if cfg.dynamic_sampling and statistics.pstdev(rewards_G) <= cfg.filter_eps:
                filtered += 1
                continue
            kept.append(Group(prompt, samples_G, rewards_G))
        t_score += time.perf_counter() - t1
        t_generate += t1 - t0
        rounds += 1
    stats = {
        "reward_mean": statistics.fmean(all_rewards) if all_rewards else 0.0,  # every sampled completion: the policy's reward
        "reward_std": statistics.pstdev(all_rewards) if all_rewards else 0.0,
        "format_error_rate": sum(r == cfg.format_penalty for r in all_rewards) / max(1, len(all_rewards)),
        "prompts_sampled": sampled,
        "prompts_filtered": filtered,
        "filtered_fraction": filtered / max(1, sampled),
        "prompts_kept": len(kept),
        "sampling_rounds": rounds,
        "completion_tokens": completion_tokens,
        "completion_len_mean": completion_tokens / max(1, len(all_rewards)),
        "time_generate_s": t_generate,
        "time_score_s": t_score,
    }
    return kept, stats


# ---------------------------------------------------------------------------------------------------------------
# 4. Advantages


def group_advantages(rewards_P_G: list[list[float]], scale: bool) -> list[list[float]]:
    """A = r - mean(r) per group, divided by the group's std when `scale` (GRPO; Dr. GRPO leaves it out because the
    division up-weights groups that barely differ). The std is the sample std, as verl (the paper's framework) uses."""
    out = []
    for rewards_G in rewards_P_G:
        mean = statistics.fmean(rewards_G)
        std = statistics.stdev(rewards_G) if len(rewards_G) > 1 else 0.0
        out.append([(r - mean) / (std + 1e-6) if scale else r - mean for r in rewards_G])
    return out


# ---------------------------------------------------------------------------------------------------------------
# 5. Loss and update


def token_weights(completion_lens: list[int], loss_agg: str, max_completion_tokens: int) -> list[float]:
    """Weight of each sequence's tokens in the mini-batch loss, so that micro-batching does not change the loss:

    grpo    (1/N) sum_i (1/|o_i|) sum_t l_it  -- every sequence counts equally (the paper's Eq. 1)
    dapo    sum_i sum_t l_it / sum_i |o_i|     -- every token counts equally (long answers are not diluted)
    dr_grpo sum_i sum_t l_it / (N * L_max)     -- a constant normaliser: no length bias at all
    """
    n = len(completion_lens)
    if loss_agg == "grpo":
        return [1.0 / (n * max(1, length)) for length in completion_lens]
    if loss_agg == "dapo":
        total = max(1, sum(completion_lens))
        return [1.0 / total] * n
    if loss_agg == "dr_grpo":
        return [1.0 / (n * max_completion_tokens)] * n
    raise ValueError(f"unknown loss_agg {loss_agg!r}")


def mini_batch_count(cfg: TrainConfig, n_groups: int) -> int:
    """Optimizer steps that `n_groups` groups fill: up to `mini_batches`, each holding whole groups (0 without groups)."""
    return math.ceil(n_groups / math.ceil(n_groups / cfg.mini_batches)) if n_groups else 0


def train_on_groups(
    cfg: TrainConfig, model: Any, ref_model: Any | None, optimizer: Any, scheduler: Any, accelerator: Any, groups: list[Group], pad_id: int,
    n_minis: int | None = None,
) -> dict[str, float]:
    """`n_minis` optimizer steps: the same number on every rank (DDP), so a rank with fewer groups gets empty ones."""
    advantages_P_G = group_advantages([g.rewards_G for g in groups], cfg.scale_rewards)
    sequences = [(s, a) for g, adv_G in zip(groups, advantages_P_G, strict=True) for s, a in zip(g.samples, adv_G, strict=True)]
    per_mini = math.ceil(len(groups) / cfg.mini_batches) * cfg.group_size  # mini-batches hold whole groups
    n_minis = mini_batch_count(cfg, len(groups)) if n_minis is None else n_minis
    minis = [sequences[i * per_mini : (i + 1) * per_mini] for i in range(n_minis)]
    weighted = []
    for mini in minis:
        weights = token_weights([len(s.completion_ids) for s, _ in mini], cfg.loss_agg, cfg.max_completion_tokens)
        weighted.append([(s, a, w) for (s, a), w in zip(mini, weights, strict=True)])
    return train_on_sequences(cfg, model, ref_model, optimizer, scheduler, accelerator, weighted, pad_id, groups)


def train_on_sequences(
    cfg: TrainConfig, model: Any, ref_model: Any | None, optimizer: Any, scheduler: Any, accelerator: Any,
    minis: list[list[tuple[Sample, float, float]]], pad_id: int, groups: list[Any] = (),  # type: ignore[assignment]
) -> dict[str, float]:
    """One optimizer step per mini-batch of (sequence, advantage, token weight) triples: the clipped surrogate.

    `train_on_groups` makes one sequence per completion (SRL); RLVR makes one per agent turn, each turn carrying its
    episode's advantage and weight (srl_agent/train/rlvr.py). `groups` only travels with a NonFiniteLoss."""
    import torch

    from srl_agent.train.distributed import zero_loss

    device = accelerator.device
    lo, hi = 1.0 - cfg.clip_eps, 1.0 + cfg.clip_high
    sums = {"loss": 0.0, "kl": 0.0, "clipped": 0.0, "tokens": 0.0, "mismatch": 0.0, "grad_norm": 0.0}
    for mini in minis:
        micros = [range(i, min(i + cfg.micro_batch_size, len(mini))) for i in range(0, len(mini), cfg.micro_batch_size)]
        optimizer.zero_grad(set_to_none=True)
        if not mini:  # other ranks train on this mini-batch: join their gradient all-reduce with zeros (DDP)
            accelerator.backward(zero_loss(model, pad_id, device))
        for k, idx in enumerate(micros):
            batch = pack([mini[i][0] for i in idx], pad_id, device)
            advantages_B_1 = torch.tensor([mini[i][1] for i in idx], device=device).unsqueeze(1)
            weights_B_1 = torch.tensor([mini[i][2] for i in idx], device=device).unsqueeze(1)
            mask_B_L = batch.completion_mask_B_L
            # Only the last micro-batch all-reduces gradients across processes (DDP); the others just accumulate.
            sync = contextlib.nullcontext() if k == len(micros) - 1 else accelerator.no_sync(model)
            with sync, accelerator.autocast():
                logprobs_B_L = token_logprobs(model, batch, cfg.temperature)
                # ratio = pi_theta / pi_old on the sampled tokens. pi_old is the sampler's own logprob, so with one
                # on-policy update the ratio is ~1 and the gradient is the plain policy gradient A * grad log pi;
                # later mini-batches (or a sampler in another precision, e.g. vLLM) move it and the clip bounds it.
                log_ratio_B_L = (logprobs_B_L - batch.old_logprobs_B_L) * mask_B_L
                ratio_B_L = torch.exp(log_ratio_B_L)
                surrogate_B_L = torch.minimum(ratio_B_L * advantages_B_1, ratio_B_L.clamp(lo, hi) * advantages_B_1)
                loss_B_L = -surrogate_B_L
                if ref_model is not None:
                    with torch.no_grad():
                        ref_logprobs_B_L = token_logprobs(ref_model, batch, cfg.temperature)
                    # k3 estimator of KL(pi_theta || pi_ref): unbiased, always >= 0, low variance (Schulman 2020).
                    delta_B_L = (ref_logprobs_B_L - logprobs_B_L) * mask_B_L
                    kl_B_L = torch.exp(delta_B_L) - delta_B_L - 1.0
                    loss_B_L = loss_B_L + cfg.kl_coef * kl_B_L
                    sums["kl"] += float((kl_B_L * mask_B_L).sum())
                loss = (loss_B_L * mask_B_L * weights_B_1).sum()
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"loss is {loss.item()} at micro-batch {k}", list(groups))
            accelerator.backward(loss)
            with torch.no_grad():
                clipped_B_L = ((ratio_B_L < lo) & (advantages_B_1 < 0)) | ((ratio_B_L > hi) & (advantages_B_1 > 0))
                sums["loss"] += loss.item()
                sums["clipped"] += float((clipped_B_L * mask_B_L).sum())
                sums["mismatch"] += float((log_ratio_B_L.abs() * mask_B_L).sum())
                sums["tokens"] += float(mask_B_L.sum())
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        if not math.isfinite(float(grad_norm)):
            raise NonFiniteLoss(f"gradient norm is {float(grad_norm)}", list(groups))
        optimizer.step()
        scheduler.step()
        sums["grad_norm"] += float(grad_norm)
    tokens = max(1.0, sums["tokens"])
    return {
        "loss": sums["loss"] / len(minis),
        "kl": sums["kl"] / tokens,
        "clip_fraction": sums["clipped"] / tokens,
        "logprob_diff": sums["mismatch"] / tokens,  # |log pi_theta - log pi_sampler| per token, before the first update
        "grad_norm": sums["grad_norm"] / len(minis),
        "trained_tokens": sum(len(s.prompt_ids) + len(s.completion_ids) for mini in minis for s, _, _ in mini),
    }


# ---------------------------------------------------------------------------------------------------------------
# The step


def grpo_step(
    cfg: TrainConfig, step: int, model: Any, ref_model: Any | None, optimizer: Any, scheduler: Any, accelerator: Any,
    engine: RolloutEngine, prompts: list[TrainPrompt], sampler: PromptSampler, pad_id: int,
) -> tuple[dict[str, float], list[Group]]:
    t0 = time.perf_counter()
    local_batch = max(1, cfg.batch_size // accelerator.num_processes)
    try:
        groups, metrics = collect_groups(cfg, engine, prompts, sampler, step, local_batch, accelerator.process_index)
    except RuntimeError as e:  # torch.multinomial on NaN/inf probabilities: the weights diverged at the last update
        if "inf" in str(e) or "nan" in str(e):
            raise NonFiniteLoss(f"sampling failed, the policy's outputs are not finite ({e})", []) from e
        raise
    t1 = time.perf_counter()
    # Every rank runs as many optimizer steps as the rank with the most groups: DDP all-reduces in each of them.
    n_minis = max_over_ranks(accelerator, mini_batch_count(cfg, len(groups)))
    if n_minis:
        metrics.update(train_on_groups(cfg, model, ref_model, optimizer, scheduler, accelerator, groups, pad_id, n_minis))
        engine.sync_weights(model)  # the next step samples from the updated policy (vLLM: copy + reset prefix cache)
    else:  # every sampled group was filtered (on every rank): nothing to learn from this round
        metrics.update(loss=0.0, kl=0.0, clip_fraction=0.0, logprob_diff=0.0, grad_norm=0.0, trained_tokens=0)
    t2 = time.perf_counter()
    metrics["kept_reward_mean"] = statistics.fmean(r for g in groups for r in g.rewards_G) if groups else 0.0
    metrics["lr"] = scheduler.get_last_lr()[0]
    metrics["time_train_s"] = t2 - t1
    metrics["time_step_s"] = t2 - t0
    metrics["tokens_per_s"] = (metrics["trained_tokens"] + metrics["completion_tokens"]) / max(1e-9, t2 - t0)
    return metrics, groups


def sample_records(groups: list[Group], step: int, limit: int) -> list[dict[str, Any]]:
    """Rows for samples.jsonl (the replay viewer): prompt, completion, parsed action, expert action, reward."""
    rows = []
    for g in groups:
        for sample, reward in zip(g.samples, g.rewards_G, strict=True):
            if len(rows) >= limit:
                return rows
            try:
                action = parse_completion(sample.text).action_text
            except ValueError as e:
                action = None
                error = str(e)
            else:
                error = None
            inst = g.prompt.instance
            rows.append({"step": step, "instance_id": inst.instance_id, "step_index": inst.step_index, "prompt": list(inst.prompt),
                         "completion": sample.text, "parsed_action": action, "format_error": error,
                         "expert_action": inst.expert_action, "reward": reward, "completion_tokens": len(sample.completion_ids)})
    return rows
