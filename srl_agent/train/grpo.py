"""One GRPO step, top to bottom: groups (from a GroupSource) -> advantages -> clipped surrogate -> update.

Shapes: P groups kept in the batch, G members per group, B sequences in a micro-batch, L padded length.

    1. Sample and score G members per item (sources.py: SRL completions scored by the SRL reward, or RLVR agent
       episodes graded in Docker); a member with reward None (an infrastructure failure) is masked.
    2. Dynamic sampling (sources.fill): drop groups whose rewards are all (nearly) equal -- their advantages would be
       0, so they only dilute the batch -- and sample more items until the batch holds `batch_size` groups.
    3. Advantages: each reward relative to its own group's valid members, A_i = (r_i - mean(r)) / std(r).
    4. Loss: PPO's clipped surrogate on every sampled token of a member (SRL: its completion; RLVR: all its turns,
       each carrying the member's advantage), aggregated per `loss_agg`, optional k3 KL to a frozen reference;
       gradients accumulate over micro-batches, the global norm is clipped, the optimizer steps (unless a loss or the
       norm is not finite on any rank: then every rank raises NonFiniteLoss together).

What is simplified: one policy version per step (the sampler's logprobs are pi_old), no value model, no entropy bonus.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from srl_agent.rollout import RolloutEngine, Sample
from srl_agent.train.config import TrainConfig
from srl_agent.train.runs import Run
from srl_agent.train.shared_prompt import completion_columns, pack_micro_batch, prompt_runs, token_logprobs
from srl_agent.train.sources import Group, GroupSource, fill

Triple = tuple[Sample, float, float]  # (sequence, its member's advantage, its tokens' weight in the loss)
NOTHING_TRAINED = {"loss": 0.0, "kl": 0.0, "clip_fraction": 0.0, "logprob_diff": 0.0, "logprob_diff_max": 0.0, "grad_norm": 0.0,
                   "trained_tokens": 0, "unique_tokens": 0}


class NonFiniteLoss(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the step's groups are attached for inspection."""

    def __init__(self, what: str, groups: list[Group]):
        super().__init__(what)
        self.groups = groups


@dataclass(frozen=True)
class StepOutput:
    metrics: dict[str, float]
    groups: list[Group]  # every sampled group, `kept` marking the trained ones
    minis: list[list[Triple]]  # what was trained, per optimizer step


# ---------------------------------------------------------------------------------------------------------------
# 3. Advantages


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
# 4. Loss and update


def token_weights(completion_lens: list[int], loss_agg: str, max_completion_tokens: int, n_total: int | None = None,
                  tokens_total: int | None = None) -> list[float]:
    """Weight of each sequence's tokens in the mini-batch loss, so that micro-batching does not change the loss:

    grpo    (1/N) sum_i (1/|o_i|) sum_t l_it  -- every sequence counts equally (the paper's Eq. 1)
    dapo    sum_i sum_t l_it / sum_i |o_i|     -- every token counts equally (long answers are not diluted)
    dr_grpo sum_i sum_t l_it / (N * L_max)     -- a constant normaliser: no length bias at all

    N and sum_i |o_i| are the mini-batch's over every rank (`n_total`, `tokens_total`; default: these sequences)."""
    n = len(completion_lens) if n_total is None else n_total
    if loss_agg == "grpo":
        return [1.0 / (n * max(1, length)) for length in completion_lens]
    if loss_agg == "dapo":
        total = max(1, sum(completion_lens) if tokens_total is None else tokens_total)
        return [1.0 / total] * len(completion_lens)
    if loss_agg == "dr_grpo":
        return [1.0 / (n * max_completion_tokens)] * len(completion_lens)
    raise ValueError(f"unknown loss_agg {loss_agg!r}")


def minibatches(groups: list[Group], cfg: TrainConfig, max_member_tokens: int, accelerator: Any = None) -> list[list[Triple]]:
    """(sequence, advantage, token weight) per mini-batch; mini-batches hold whole groups. A member is one "o_i" of
    Eq. 1: all its sampled tokens, whichever of its sequences (RLVR turns) they belong to.

    With several processes (`accelerator`), every rank returns the same number of mini-batches (empty ones where it
    has no groups left) and each mini-batch is normalised by its member and token counts over all ranks, times the
    world size R because DDP averages gradients over ranks: R ranks holding different numbers of groups then give
    exactly the gradient of one process on their union. (Per-rank normalisation would weigh a rank's 4 groups as much
    as another's 60, and a rank with none would shrink the step by (R-1)/R.)"""
    from srl_agent.train.distributed import max_over_ranks, sum_over_ranks

    members_M: list[list[tuple[Any, float, int]]] = []
    per_mini = math.ceil(len(groups) / cfg.mini_batches) if groups else 1
    for start in range(0, len(groups), per_mini):
        members = []
        for g in groups[start : start + per_mini]:
            (advantages_G,) = group_advantages([[m.reward for m in g.valid]], cfg.scale_rewards)  # type: ignore[misc]
            members += [(m, a, sum(len(s.completion_ids) for s in m.sequences))
                        for m, a in zip(g.valid, advantages_G, strict=True) if m.sequences]
        members_M.append(members)
    ranks = 1 if accelerator is None else accelerator.num_processes
    if ranks > 1:
        members_M += [[] for _ in range(max_over_ranks(accelerator, len(members_M)) - len(members_M))]
        counts = sum_over_ranks(accelerator, [x for mm in members_M for x in (len(mm), sum(t for _, _, t in mm))])
        totals_M = [(int(counts[2 * i]), int(counts[2 * i + 1])) for i in range(len(members_M))]
    else:
        totals_M = [(len(mm), sum(t for _, _, t in mm)) for mm in members_M]
    minis = []
    for members, (n_total, tokens_total) in zip(members_M, totals_M, strict=True):
        weights = token_weights([t for _, _, t in members], cfg.loss_agg, max_member_tokens, n_total, tokens_total)
        minis.append([(s, a, w * ranks) for (m, a, _), w in zip(members, weights, strict=True) for s in m.sequences])
    return minis


def train_on_sequences(run: Run, minis: list[list[Triple]], groups: list[Group] = (),  # type: ignore[assignment]
                       note: Callable[[str], None] = lambda _: None) -> dict[str, float]:
    """One optimizer step per mini-batch of (sequence, advantage, token weight) triples: the clipped surrogate
    (train/policy_loss.py: per-token logprobs in, per-token loss out). An empty mini-batch joins the other ranks'
    gradient all-reduce with zeros (DDP). `groups` only travels with a NonFiniteLoss."""
    import torch

    from srl_agent.train.distributed import max_over_ranks, no_sync, problems_on_any_rank, zero_loss
    from srl_agent.train.policy_loss import mismatch_stats, policy_loss

    cfg, model, ref_model, accelerator = run.cfg, run.model, run.ref_model, run.accelerator
    optimizer, scheduler, pad_id = run.optimizer, run.scheduler, run.tokenizer.pad_token_id
    device = accelerator.device
    settings = cfg.loss_settings
    micros_M = [[range(i, min(i + cfg.micro_batch_size, len(mini))) for i in range(0, len(mini), cfg.micro_batch_size)]
                for mini in minis]
    # pi_old: the trainer's own logprobs before this step's updates when TIS is on (one no-grad forward per micro-batch,
    # on the unwrapped module: no DDP collective), else the sampler's. Differences between the two are the mismatch.
    old_M_K = recompute_old_logprobs(run, minis, micros_M) if cfg.use_tis else None
    # Every rank runs as many forward/backward passes per mini-batch as the rank with the most (FSDP2 all-gathers in
    # every forward; DDP all-reduces in the last backward): a rank with fewer joins the rest with zero losses.
    passes_M = [max_over_ranks(accelerator, max(1, len(micros))) for micros in micros_M]
    sums = {"loss": 0.0, "kl": 0.0, "clipped": 0.0, "tokens": 0.0, "mismatch_sum": 0.0, "mismatch_max": 0.0,
            "mismatch_tokens": 0.0, "tis_sum": 0.0, "tis_min": math.inf, "tis_max": 0.0, "grad_norm": 0.0}
    for m, (mini, micros) in enumerate(zip(minis, micros_M, strict=True)):
        optimizer.zero_grad(set_to_none=True)
        problem = None  # this rank's first non-finite loss: raised before the optimizer step, with the other ranks
        for k in range(len(micros), passes_M[m]):  # other ranks train on more micro-batches: join them with zeros
            with no_sync(accelerator, model) if k < passes_M[m] - 1 or micros else contextlib.nullcontext():
                accelerator.backward(zero_loss(model, pad_id, device))
        for k, idx in enumerate(micros):
            note(f"update {m + 1}/{len(minis)}: micro-batch {k + 1}/{len(micros)}")
            batch = pack_micro_batch([mini[i][0] for i in idx], pad_id, device, cfg.shared_prompt)
            advantages_B_1 = torch.tensor([mini[i][1] for i in idx], device=device).unsqueeze(1)
            weights_B_1 = torch.tensor([mini[i][2] for i in idx], device=device).unsqueeze(1)
            mask_B_L, old_logprobs_B_L = completion_columns(batch)
            # Only the last micro-batch all-reduces (DDP) / reduce-scatters (FSDP2) gradients; the others accumulate.
            sync = contextlib.nullcontext() if k == len(micros) - 1 else no_sync(accelerator, model)
            with sync:  # DDP reads it in forward, FSDP2 in backward: both run inside
                with accelerator.autocast():
                    logprobs_B_L = token_logprobs(model, batch, cfg.temperature)
                    # Without TIS pi_old is the sampler's own logprob: with one on-policy update the ratio is ~1 and the
                    # gradient is the plain policy gradient A * grad log pi; later mini-batches move it and the clip bounds it.
                    old_B_L = old_M_K[m][k] if old_M_K is not None else old_logprobs_B_L
                    out = policy_loss(logprobs_B_L, old_B_L, old_logprobs_B_L, advantages_B_1, mask_B_L, settings)
                    loss_B_L = out.loss_B_L
                    if ref_model is not None:
                        with torch.no_grad():
                            ref_logprobs_B_L = token_logprobs(ref_model, batch, cfg.temperature)
                        # k3 estimator of KL(pi_theta || pi_ref): unbiased, always >= 0, low variance (Schulman 2020).
                        delta_B_L = (ref_logprobs_B_L - logprobs_B_L) * mask_B_L
                        kl_B_L = torch.exp(delta_B_L) - delta_B_L - 1.0
                        loss_B_L = loss_B_L + cfg.kl_coef * kl_B_L
                        sums["kl"] += (kl_B_L.detach() * mask_B_L).sum().item()
                    loss = (loss_B_L * mask_B_L * weights_B_1).sum()
                if problem is None and not torch.isfinite(loss):
                    problem = f"loss is {loss.item()} at micro-batch {k}"
                # Backward even so: the other ranks are in this pass's collectives (DDP's all-reduce, FSDP2's
                # all-gathers); the gradient is discarded below, before any weight changes.
                accelerator.backward(loss)
            with torch.no_grad():
                sums["loss"] += loss.item()
                sums["clipped"] += (out.clipped_B_L * mask_B_L).sum().item()
                sums["tokens"] += mask_B_L.sum().item()
                # The mismatch is measured before any update of this step: every token against the recomputed pi_old
                # (TIS), else the first mini-batch's (its pi_theta is still pi_old).
                if old_M_K is not None or m == 0:
                    reference_B_L = old_B_L if old_M_K is not None else logprobs_B_L.detach()
                    stats = mismatch_stats(reference_B_L, old_logprobs_B_L, mask_B_L, out.tis_B_L)
                    sums["mismatch_sum"] += stats["mismatch_sum"]
                    sums["mismatch_max"] = max(sums["mismatch_max"], stats["mismatch_max"])
                    sums["mismatch_tokens"] += mask_B_L.sum().item()
                    if out.tis_B_L is not None:
                        sums["tis_sum"] += stats["tis_sum"]
                        sums["tis_min"] = min(sums["tis_min"], stats["tis_min"])
                        sums["tis_max"] = max(sums["tis_max"], stats["tis_max"])
        grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm))
        if problem is None and not math.isfinite(grad_norm):
            problem = f"gradient norm is {grad_norm}"
        # The point of no return: every rank learns whether any rank saw a non-finite loss, and all raise together.
        problem = problems_on_any_rank(accelerator, problem)
        if problem is not None:
            raise NonFiniteLoss(problem, list(groups))
        optimizer.step()
        scheduler.step()
        sums["grad_norm"] += grad_norm
    tokens, measured = max(1.0, sums["tokens"]), max(1.0, sums["mismatch_tokens"])
    metrics = {
        "loss": sums["loss"] / len(minis),
        "kl": sums["kl"] / tokens,
        "clip_fraction": sums["clipped"] / tokens,
        # |log pi_old - log pi_sampler| per token: the sampler/trainer mismatch (0 up to float noise for engine=hf).
        "logprob_diff": sums["mismatch_sum"] / measured,
        "logprob_diff_max": sums["mismatch_max"],
        "grad_norm": sums["grad_norm"] / len(minis),
        "trained_tokens": sum(len(s.prompt_ids) + len(s.completion_ids) for mini in minis for s, _, _ in mini),
        # Tokens through the model with shared prompts: each run of samples with one prompt counts it once.
        "unique_tokens": sum(len(mini[run[0]][0].prompt_ids) + sum(len(mini[i][0].completion_ids) for i in run)
                             for mini in minis for run in prompt_runs([s for s, _, _ in mini])),
    }
    if cfg.use_tis:
        metrics |= {"tis_weight_mean": sums["tis_sum"] / measured if sums["mismatch_tokens"] else 1.0,
                    "tis_weight_min": sums["tis_min"] if math.isfinite(sums["tis_min"]) else 1.0,
                    "tis_weight_max": sums["tis_max"] if sums["mismatch_tokens"] else 1.0}
    return metrics


def recompute_old_logprobs(run: Run, minis: list[list[Triple]], micros_M: list[list[range]]) -> list[list[Any]]:
    """log pi_old of every micro-batch, by the trainer's current weights (no gradient), before any update. FSDP2: by
    the unsharded rollout copy, which holds those weights in the compute dtype (forwards without collectives)."""
    import torch

    module = run.rollout_model if run.rollout_model is not None else run.accelerator.unwrap_model(run.model)
    pad_id, device = run.tokenizer.pad_token_id, run.accelerator.device
    out = []
    with torch.no_grad(), run.accelerator.autocast():
        for mini, micros in zip(minis, micros_M, strict=True):
            out.append([token_logprobs(module, pack_micro_batch([mini[i][0] for i in idx], pad_id, device, run.cfg.shared_prompt),
                                       run.cfg.temperature).float() for idx in micros])
    return out


def advance_schedule(scheduler: Any, position: int) -> None:
    """Move the LR schedule to `position` updates. The schedule counts `mini_batches` updates per step; a step that
    trained fewer (every group filtered, or fewer groups than mini-batches) would otherwise leave it behind, and a
    linear/cosine decay would never reach its end."""
    import warnings

    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()" when the first steps trained nothing
        warnings.simplefilter("ignore", UserWarning)
        while scheduler.last_epoch < position:
            scheduler.step()


# ---------------------------------------------------------------------------------------------------------------
# The step


def grpo_step(run: Run, source: GroupSource, sampler: Any, engine: RolloutEngine, step: int,
              note: Callable[[str], None] = lambda _: None) -> StepOutput:
    """Fill the batch from `source` (dynamic sampling), then one update per mini-batch, then sync the engine."""
    cfg, acc = run.cfg, run.accelerator
    t0 = time.perf_counter()
    try:
        groups, metrics = fill(source, sampler, cfg, step, max(1, cfg.batch_size // acc.num_processes), acc.process_index, note)
    except RuntimeError as e:  # torch.multinomial on NaN/inf probabilities: the weights diverged at the last update
        if "inf" in str(e) or "nan" in str(e):
            raise NonFiniteLoss(f"sampling failed, the policy's outputs are not finite ({e})", []) from e
        raise
    t1 = time.perf_counter()
    kept = [g for g in groups if g.kept]
    # DDP: every rank makes as many updates as the rank with the most (the others join with empty mini-batches),
    # each normalised by the counts over all ranks.
    minis = minibatches(kept, cfg, source.max_member_tokens, acc)
    if minis:
        metrics.update(train_on_sequences(run, minis, kept, note))
        # The next step samples from the updated policy (vLLM: copy + reset prefix cache; FSDP2: gather the shards).
        engine.sync_weights(run.rollout_policy())
    else:  # every sampled group was filtered or masked (on every rank): nothing to learn from this step
        metrics.update(NOTHING_TRAINED)
        if cfg.use_tis:
            metrics.update(tis_weight_mean=1.0, tis_weight_min=1.0, tis_weight_max=1.0)
    advance_schedule(run.scheduler, (step + 1) * cfg.mini_batches)
    t2 = time.perf_counter()
    metrics["kept_reward_mean"] = statistics.fmean(m.reward for g in kept for m in g.valid) if kept else 0.0  # type: ignore[misc]
    metrics["lr"] = run.scheduler.get_last_lr()[0]
    metrics["time_train_s"] = t2 - t1
    metrics["time_step_s"] = t2 - t0
    metrics["tokens_per_s"] = (metrics["trained_tokens"] + metrics["completion_tokens"]) / max(1e-9, t2 - t0)
    return StepOutput(metrics, groups, minis)
