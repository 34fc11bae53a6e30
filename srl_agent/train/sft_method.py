"""`srl-agent train --method sft`: the SFT baseline, token-level imitation of whole expert trajectories (SWE-Gym-7B's
recipe; the paper's Table 6 hyperparameters are in srl_agent/configs/sft.toml).

Every assistant turn of every trajectory is trained, in the exact context the agent loop shows the policy at that
turn at evaluation: `build_messages(issue, expert steps so far, history_window)` -> `encode_prompt` -> the turn.

    trajectory (N turns) -> N sequences:  [system, issue, last K (action, observation) pairs] + turn_k + EOS
                                           '------------------ masked ------------------'   '-- trained --'

Why not one sequence per trajectory (the usual multi-turn SFT)? The eval prompt is not a growing conversation: it
shows only the last K pairs and past actions without their thoughts, so a whole-conversation sequence would train
the model in a context it never sees when it acts. With history_window=-1 the two are closest, but even then past
turns appear thought-less. Per-turn sequences cost more prompt tokens (each prompt is re-encoded per turn); in
exchange the policy is trained on exactly the (prompt ids -> turn ids) pairs it meets at eval, and each assistant
turn's tokens get the gradient exactly once, as in whole-trajectory SFT.

Turn ids = `answer.encode_completion(expert thought, canonical action)`: `<think>\\n{thought}\\n</think>\\n{action}`
+ EOS, the format ExpertPolicy replays, the SFT warm start trains and the agent loop parses. Loss = cross-entropy on
turn tokens (+ EOS, so stopping is learnt), token mean over the batch's trajectories (of every rank).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from srl_agent.data.instances import DropReport
from srl_agent.errors import UserError
from srl_agent.rollout import Sample
from srl_agent.train.config import TrainConfig
from srl_agent.train.sft import sft_loss
from srl_agent.trajectory import Trajectory


def turn_sequences(traj: Trajectory, tokenizer: Any, cfg: TrainConfig) -> list[Sample]:
    """The trajectory's assistant turns as (prompt ids, turn ids) pairs in the eval format; prompt ids are masked."""
    from srl_agent.answer import encode_completion, encode_prompt, render_completion
    from srl_agent.data.prompts import build_messages

    out = []
    for k, step in enumerate(traj.steps):
        prompt_ids = encode_prompt(tokenizer, build_messages(traj.problem_statement, traj.steps[:k], cfg.prompt))
        text, turn_ids = render_completion(step.thought, step.action), encode_completion(tokenizer, step.thought, step.action)
        out.append(Sample(tuple(prompt_ids), turn_ids, (0.0,) * len(turn_ids), text, True))
    return out


def load_sequences(sources: list[str], tokenizer: Any,
                   cfg: TrainConfig) -> tuple[list[list[Sample]], DropReport, list[str]]:
    """Per trajectory, its turn sequences; turns whose prompt exceeds max_prompt_tokens are dropped and counted. Also
    the instance ids trained on (for eval's contamination warning)."""
    from srl_agent.readers import read_trajectories

    sft = cfg.sft_baseline  # only_resolved, max_prompt_tokens (and epochs, steps, batch_size for the schedule)
    report = DropReport(unit="turns")
    per_traj, ids = [], []
    for traj in read_trajectories(sources):
        report.read += 1
        if sft.only_resolved and traj.resolved is False:
            report.dropped_trajectories["not resolved"] += 1
            continue
        report.trajectories += 1
        seqs = turn_sequences(traj, tokenizer, cfg)
        kept = [s for s in seqs if len(s.prompt_ids) <= sft.max_prompt_tokens]
        report.instances += len(seqs)
        report.kept += len(kept)
        if len(seqs) > len(kept):
            report.dropped_instances[f"max_prompt_tokens={sft.max_prompt_tokens}"] += len(seqs) - len(kept)
        if kept:
            per_traj.append(kept)
            ids.append(traj.instance_id)
    if not per_traj:
        raise UserError(f"no SFT data left ({report.summary()}); relax only_resolved / max_prompt_tokens or check --trajectories")
    return per_traj, report, ids


def train_sft(cfg: TrainConfig, trajectories: list[str], output: Path, resume: bool = False) -> Path:
    """Run the SFT baseline; returns OUTPUT/final (loads with from_pretrained and `srl-agent eval --model`)."""
    import random

    from srl_agent.models.load import load_tokenizer
    from srl_agent.train.dataset import PromptSampler
    from srl_agent.train.distributed import problems_on_any_rank, reduce_metrics
    from srl_agent.train.runs import start_run, with_init_from

    cfg = with_init_from(cfg)
    per_traj, report, instance_ids = load_sequences(trajectories, load_tokenizer(cfg.model), cfg)
    batch, steps = cfg.sft_baseline.schedule(len(per_traj))  # trajectories per optimizer step, optimizer steps
    run = start_run(cfg, output, resume, total_updates=steps)
    acc, model = run.accelerator, run.model
    run.say(f"sft data: {report.summary()}; {len(per_traj)} trajectories, {batch} per step, {steps} steps")
    if acc.is_main_process:
        from srl_agent.data.overlap import write_manifest

        write_manifest(output, instance_ids)  # for eval's contamination warning
    sampler = PromptSampler(len(per_traj), cfg.seed, acc.process_index, acc.num_processes)
    if run.resumed:
        sampler.load_state(run.state["sampler"])  # type: ignore[index]
    run.open_logs()
    rng = random.Random(cfg.seed)
    # A fixed subset, the same on every rank (rank 0's share of the loss is its mean): a comparable loss.
    probe = [s for t in rng.sample(per_traj, min(4, len(per_traj))) for s in t]
    pad = run.tokenizer.pad_token_id
    summary = {"probe_loss_start": sft_loss(model, probe, pad, acc, cfg.micro_batch_size, backward=False)} if not resume else {}
    bar = run.progress_bar(steps, "sft")
    for step in bar:
        t0 = time.perf_counter()
        sequences = [s for i in sampler.take(max(1, batch // acc.num_processes)) for s in per_traj[i]]
        run.optimizer.zero_grad(set_to_none=True)
        loss = sft_loss(model, sequences, pad, acc, cfg.micro_batch_size)
        grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        problem = None if math.isfinite(float(grad_norm)) and math.isfinite(loss) else f"loss {loss}, grad norm {float(grad_norm)}"
        problem = problems_on_any_rank(acc, problem)  # every rank stops together (the save below is a collective)
        if problem is not None:
            saved = run.save(step, sampler.state())
            raise UserError(f"sft stopped at step {step + 1}: {problem}; the state before the step is in {saved}; "
                            "lower lr, then --resume")
        lr = run.scheduler.get_last_lr()[0]  # the rate this step uses
        run.optimizer.step()
        run.scheduler.step()
        row = {"loss": loss, "grad_norm": float(grad_norm), "lr": lr,
               "epoch": sampler.epoch + sampler.position / max(1, len(sampler._order)), "sequences": len(sequences),
               "trained_tokens": sum(len(s.prompt_ids) + len(s.completion_ids) for s in sequences),
               "target_tokens": sum(len(s.completion_ids) for s in sequences), "time_step_s": time.perf_counter() - t0}
        run.logger.log(step + 1, reduce_metrics(acc, row))  # the whole step: counts summed, the loss averaged over ranks
        bar.set_postfix(loss=f"{loss:.3f}")
        run.maybe_save(step + 1, sampler.state())
    bar.close()
    # The loss on a fixed subset of trajectories before and after: did imitation happen?
    summary |= {"probe_loss_end": sft_loss(model, probe, pad, acc, cfg.micro_batch_size, backward=False), "steps": steps,
                "data": report.to_dict()}
    if acc.is_main_process:
        (output / "sft_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return run.finish()
