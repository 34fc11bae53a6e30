"""The GRPO run: one loop for every GRPO method, around a GroupSource (sources.py).

    train(cfg, ["trajectories/sample.jsonl"], Path("runs/srl"))   SRL: step instances, optional SFT warm start
    train_rlvr(cfg, Path("runs/rlvr"))                             RLVR, and SRL->RLVR with `init_from`

    OUTPUT/metrics.jsonl   one row per step: rewards, filtering, loss, clipping, lr, timings
    OUTPUT/samples.jsonl   sampled completions (SRL, with the reward mode) or episodes (RLVR), for `srl-agent replay`
    OUTPUT/eval.jsonl      SRL with eval_every: mean reward on a fixed prompt subset
    OUTPUT/checkpoints/    resumable (save_every); OUTPUT/final/ loads with from_pretrained and `srl-agent eval`

RLVR episodes run in threads, so which turns share a generate call depends on timing: a resumed or repeated RLVR run
is statistically, not bitwise, the same (SRL's single-turn loop is exact).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError
from srl_agent.train.config import TrainConfig
from srl_agent.train.runs import Run, make_rollout_engine, start_run, with_init_from

CPU_CONFIGS = {"srl": "srl_agent/configs/tiny_cpu.toml", "rlvr": "srl_agent/configs/tiny_cpu_rlvr.toml"}


def grpo_loop(run: Run, source: Any, sampler: Any, engine: Any, evaluate: Callable[[int], None] | None = None) -> Path:
    """Steps start_step..cfg.steps of GRPO on `source`: log, checkpoint, evaluate; returns OUTPUT/final."""
    from srl_agent.train.distributed import gather_rows, reduce_metrics
    from srl_agent.train.grpo import NonFiniteLoss, grpo_step

    cfg, acc = run.cfg, run.accelerator
    run.open_logs()
    bar = run.progress_bar(cfg.steps, cfg.method)
    note = bar.set_postfix_str  # progress within a step: sampling rounds, episodes, generate batches, micro-batches
    if evaluate is not None and run.start_step == 0:
        evaluate(0)
    for step in bar:
        try:
            out = grpo_step(run, source, sampler, engine, step, note)
        except NonFiniteLoss as e:  # raised on every rank together (grpo.train_on_sequences): the dump and save are collectives
            dump = run.output / f"nonfinite_step_{step + 1:06d}.jsonl"
            rows = gather_rows(acc, source.records(e.groups, step + 1, 10**9))  # every rank's batch
            if acc.is_main_process:
                with dump.open("w") as f:
                    for row in rows:
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
            saved = run.save(step, sampler.state())
            raise UserError(f"training stopped at step {step + 1}: {e}. The batch is in {dump}, the state before the step in "
                            f"{saved}; lower lr or check the data, then --resume") from None
        # Several processes: one row for the whole step (all ranks' samples), and samples from every rank.
        metrics = reduce_metrics(acc, out.metrics)
        run.logger.log(step + 1, metrics, gather_rows(acc, source.records(out.groups, step + 1, cfg.samples_per_step)))
        bar.set_postfix(reward=f"{metrics['reward_mean']:.3f}", kept=metrics[f"{source.unit}_kept"])
        run.maybe_save(step + 1, sampler.state())
        if evaluate is not None and cfg.eval_every and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            evaluate(step + 1)
    bar.close()
    return run.finish(engine)


def check_sizes(run: Run, available: int, unit: str, per_step: str, heavy: bool) -> None:
    """Say up front what a new user would otherwise wait to find out: a batch larger than the data, GPU-sized
    settings on a CPU."""
    import torch

    cfg = run.cfg
    local = max(1, cfg.batch_size // run.accelerator.num_processes)
    if local > available:
        run.say(f"note: batch_size={cfg.batch_size} exceeds the {available} {unit} available: each step draws "
                f"{local} from reshuffled passes, so {unit} repeat within a step (batch_size={available} avoids it)")
    if heavy and not torch.cuda.is_available():
        run.say(f"note: these settings are GPU-sized ({per_step} per step; the paper's defaults) and a step takes "
                f"hours on CPU. For a CPU run: --config {CPU_CONFIGS[cfg.method]}")


def train(cfg: TrainConfig, trajectories: list[str], output: Path, resume: bool = False) -> Path:
    """SRL: GRPO on step-wise expert actions; returns OUTPUT/final."""
    from srl_agent.train.dataset import PromptSampler, load_instances, no_instances_error, tokenize_instances
    from srl_agent.train.sources import SRLSource

    cfg = with_init_from(cfg)
    instances, report = load_instances(trajectories, cfg)  # bad data stops here, before the run directory is written
    if not instances:
        raise no_instances_error(report)
    run = start_run(cfg, output, resume, total_updates=cfg.steps * cfg.mini_batches)
    prompts = tokenize_instances(instances, run.tokenizer, cfg, report)
    run.say(f"data: {report.summary()}")
    if run.accelerator.is_main_process:
        from srl_agent.data.overlap import held_out_warning, write_manifest

        write_manifest(output, (inst.instance_id for inst in instances))  # for eval's contamination warning
        warning = held_out_warning(inst.instance_id for inst in instances)
        if warning:
            run.say(warning)
    sequences = cfg.batch_size * cfg.group_size
    check_sizes(run, len(prompts), "instances", f"{cfg.batch_size} prompts x G={cfg.group_size} x "
                f"{cfg.max_completion_tokens} tokens", sequences * cfg.max_completion_tokens > 200_000)
    acc = run.accelerator
    sampler = PromptSampler(len(prompts), cfg.seed, acc.process_index, acc.num_processes)
    if run.resumed:
        sampler.load_state(run.state["sampler"])  # type: ignore[index]
    elif cfg.warm_start.steps:
        warm_start(run, prompts)
    if cfg.kl_coef > 0:
        from srl_agent.train.runs import load_reference

        run.ref_model = load_reference(run)  # the policy SRL starts from (after the warm start)
    engine = make_rollout_engine(run)  # after the warm start / resume: vLLM starts from the current weights

    def evaluate(step: int) -> None:
        if not acc.is_main_process:
            return
        from srl_agent.train.probe import mean_reward

        row = {"step": step, **mean_reward(engine, prompts[: cfg.eval_prompts], cfg, cfg.eval_samples, seed=cfg.seed + 4242)}
        with (output / "eval.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    return grpo_loop(run, SRLSource(cfg, engine, prompts), sampler, engine, evaluate if cfg.eval_every else None)


def warm_start(run: Run, prompts: list[Any]) -> None:
    """SFT on the expert actions before SRL (sft_steps), logged to OUTPUT/sft_metrics.jsonl."""
    from srl_agent.train.sft import run_sft

    log_path = run.output / "sft_metrics.jsonl"

    def log(row: dict[str, float]) -> None:
        if run.accelerator.is_main_process:
            with log_path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    rows = run_sft(run.cfg, run.model, run.tokenizer, prompts, run.accelerator, log)
    run.say(f"sft warm start: {run.cfg.warm_start.steps} steps, loss {rows[0]['sft_loss']:.3f} -> {rows[-1]['sft_loss']:.3f}")


def train_rlvr(cfg: TrainConfig, output: Path, resume: bool = False, tasks: list[Any] | None = None,
               factory: Any = None, engine_wrapper: Any = None) -> Path:
    """RLVR on `cfg.rlvr.bench` / `.split` (or `tasks` with `factory`); returns OUTPUT/final.
    `engine_wrapper(engine) -> engine` wraps the rollout engine (e.g. to record what it sampled)."""
    from srl_agent.train.dataset import PromptSampler
    from srl_agent.train.sources import RLVRSource

    if cfg.kl_coef > 0:
        raise UserError("kl_coef > 0 is not supported with method=rlvr (the paper uses 0); set kl_coef=0")
    cfg = with_init_from(cfg)
    rl = cfg.rlvr  # bench, split, agent limits, overlong, timeouts, workers, docker_hosts
    if tasks is None:
        from srl_agent.tasksets import load_bench, ready_images, sandbox_factory

        tasks = load_bench(rl.bench, rl.split)
        pool = None
        if rl.docker_hosts:
            from srl_agent.sandbox.hosts import parse_hosts
            from srl_agent.sandbox.pool import HostPool

            pool = HostPool.connect(parse_hosts(rl.docker_hosts))
            if rl.workers > pool.total_capacity():  # more episode threads would only wait for a slot
                print(f"rlvr: workers={rl.workers} > the pool's capacity {pool.total_capacity()}: running "
                      f"{pool.total_capacity()} episodes at once", file=sys.stderr)
                cfg = dataclasses.replace(cfg, workers=pool.total_capacity())
        # Every image on every host before the model loads (and the GPUs are taken): a missing one fails here, with
        # the list, instead of masking every episode of every batch.
        if tasks:
            ready_images(rl.bench, tasks, pool, progress=cfg.progress)
        factory = sandbox_factory(rl.bench, pool=pool)
    if not tasks:
        raise UserError(f"{rl.bench} ({rl.split}) has no tasks to train on")
    run = start_run(cfg, output, resume, total_updates=cfg.steps * cfg.mini_batches)
    acc = run.accelerator
    run.say(f"rlvr: {len(tasks)} tasks from {rl.bench} ({rl.split}), {cfg.group_size} episodes each, "
            f"{cfg.batch_size} kept tasks per step")
    episodes = cfg.batch_size * cfg.group_size
    check_sizes(run, len(tasks), "tasks", f"{cfg.batch_size} tasks x G={cfg.group_size} episodes of up to "
                f"{rl.agent.max_turns} turns", episodes > 64)
    if acc.is_main_process:
        (output / "tasks.json").write_text(json.dumps([t.instance_id for t in tasks]) + "\n")
    sampler = PromptSampler(len(tasks), cfg.seed, acc.process_index, acc.num_processes)
    if run.resumed:
        sampler.load_state(run.state["sampler"])  # type: ignore[index]
    engine = make_rollout_engine(run)
    if engine_wrapper is not None:
        engine = engine_wrapper(engine)
    return grpo_loop(run, RLVRSource(cfg, engine, run.tokenizer, tasks, factory), sampler, engine)
