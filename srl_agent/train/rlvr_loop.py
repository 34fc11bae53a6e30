"""`srl-agent train --method rlvr`: the RLVR run around `rlvr_step` (tasks, engine, logging, checkpoints, resume).

    OUTPUT/metrics.jsonl   one row per step: resolved rate, infra failures, filtering, loss, timings
    OUTPUT/samples.jsonl   the episodes of kept tasks (turn texts, reward, stop reason) for inspection
    OUTPUT/checkpoints/    resumable (save_every); OUTPUT/final/ loads with from_pretrained and `srl-agent eval`

Episodes run in threads, so which turns share a generate call depends on timing: a resumed or repeated RLVR run is
statistically, not bitwise, the same (SRL's single-turn loop is exact).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError
from srl_agent.train.config import TrainConfig


def make_rollout_engine(cfg: TrainConfig, model: Any, tokenizer: Any) -> Any:
    from srl_agent.models.load import resolve_dtype
    from srl_agent.rollout import make_engine

    options: dict[str, Any] = {"generation_batch_size": cfg.generation_batch_size}
    if cfg.engine == "vllm":
        options = {"gpu_memory_utilization": cfg.vllm_gpu_memory_utilization, "kv_cache_gib": cfg.vllm_kv_cache_gib,
                   "seed": cfg.seed, "max_model_len": cfg.max_prompt_tokens + cfg.max_completion_tokens,
                   "dtype": resolve_dtype(cfg.dtype)}
    elif cfg.engine == "vllm-server":
        options = {"base_url": cfg.rollout_server_url, "weights_dir": cfg.rollout_weights_dir or None}
    return make_engine(cfg.engine, model, tokenizer, **options)


def episode_records(groups: list[Any], step: int, limit: int) -> list[dict[str, Any]]:
    from srl_agent.train.rlvr import keep_group

    rows = []
    for g in groups:
        kept = keep_group([r.reward for r in g.valid], True)
        for r in g.rollouts_G:
            if len(rows) >= limit:
                return rows
            rows.append({"step": step, "instance_id": r.instance_id, "group_kept": kept, "status": r.status, "reward": r.reward,
                         "stop_reason": r.stop_reason, "error": r.error, "turns": [t.text for t in r.turns],
                         "completion_tokens": sum(len(t.completion_ids) for t in r.turns)})
    return rows


def train_rlvr(cfg: TrainConfig, output: Path, resume: bool = False, tasks: list[Any] | None = None,
               factory: Any = None, engine_wrapper: Any = None) -> Path:
    """Run RLVR on `cfg.bench` / `cfg.split` (or `tasks` with `factory`); returns OUTPUT/final.

    `engine_wrapper(engine) -> engine` wraps the rollout engine (e.g. to record what it sampled)."""
    from tqdm import tqdm

    from srl_agent.train import checkpoint as ckpt
    from srl_agent.train.data import PromptSampler
    from srl_agent.train.grpo import NonFiniteLoss
    from srl_agent.train.metrics import MetricsLogger
    from srl_agent.train.rlvr import rlvr_step
    from srl_agent.train.runs import save, say, start_run, with_init_from

    if cfg.kl_coef > 0:
        raise UserError("kl_coef > 0 is not supported with method=rlvr (the paper uses 0); set kl_coef=0")
    cfg = with_init_from(cfg)
    if tasks is None:
        from srl_agent.tasksets import load_bench, ready_images, sandbox_factory

        tasks = load_bench(cfg.bench, cfg.split)
        pool = None
        if cfg.docker_hosts:
            from srl_agent.sandbox.hosts import parse_hosts
            from srl_agent.sandbox.pool import HostPool

            pool = HostPool.connect(parse_hosts(cfg.docker_hosts))
            if cfg.workers > pool.total_capacity():  # more episode threads would only wait for a slot
                print(f"rlvr: workers={cfg.workers} > the pool's capacity {pool.total_capacity()}: running "
                      f"{pool.total_capacity()} episodes at once", file=sys.stderr)
                cfg = dataclasses.replace(cfg, workers=pool.total_capacity())
        # Every image on every host before the model loads (and the GPUs are taken): a missing one fails here, with
        # the list, instead of masking every episode of every batch.
        if tasks:
            ready_images(cfg.bench, tasks, pool, progress=cfg.progress)
        factory = sandbox_factory(cfg.bench, pool=pool)
    if not tasks:
        raise UserError(f"{cfg.bench} ({cfg.split}) has no tasks to train on")
    run = start_run(cfg, output, resume, total_updates=cfg.steps * cfg.mini_batches)
    acc = run.accelerator
    say(acc, f"rlvr: {len(tasks)} tasks from {cfg.bench} ({cfg.split}), {cfg.group_size} episodes each, "
             f"{cfg.batch_size} kept tasks per step")
    sampler = PromptSampler(len(tasks), cfg.seed, acc.process_index, acc.num_processes)
    if run.state is not None:
        sampler.load_state(run.state["sampler"])
    engine = make_rollout_engine(cfg, run.model, run.tokenizer)
    if engine_wrapper is not None:
        engine = engine_wrapper(engine)
    logger = MetricsLogger(output, run.start_step, acc.is_main_process, cfg.tensorboard, cfg.wandb, cfg.to_dict())
    bar = tqdm(range(run.start_step, cfg.steps), initial=run.start_step, total=cfg.steps, desc="rlvr",
               disable=not (cfg.progress and acc.is_main_process))
    for step in bar:
        try:
            metrics, groups, _ = rlvr_step(cfg, step, run, engine, tasks, sampler, factory)
        except NonFiniteLoss as e:
            saved = save(run, output, step, sampler.state(), cfg)
            raise UserError(f"training stopped at step {step + 1}: {e}. The state before the step is in {saved}; "
                            "lower lr, then --resume") from None
        logger.log(step + 1, metrics, episode_records(groups, step + 1, cfg.samples_per_step))
        bar.set_postfix(resolved=f"{metrics['reward_mean']:.2f}", infra=f"{metrics['infra_failure_rate']:.2f}")
        if cfg.save_every and (step + 1) % cfg.save_every == 0:
            save(run, output, step + 1, sampler.state(), cfg)
    bar.close()
    logger.close()
    final = ckpt.save_final(output / "final", run.model, run.tokenizer, cfg.merge_lora, acc)
    if acc.is_main_process:
        (output / "tasks.json").write_text(json.dumps([t.instance_id for t in tasks]) + "\n")
    say(acc, f"final model: {final}")
    return final
