"""The one run setup every training method uses (SRL, RLVR, SFT, the experiments), and the run's tail.

    cfg = with_init_from(cfg)                                  # model := the checkpoint's weights (`--init-from`)
    run = start_run(cfg, output, resume, total_updates)        # accelerator, policy, AdamW, schedule, resume
    ... run.model, run.optimizer, run.scheduler, run.state (None, or the resumed trainer_state.pt), run.logger
    run.save(step, sampler.state())                            # a resumable checkpoint (save_every)
    run.finish()                                               # close logs, check DDP replicas, OUTPUT/final
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError
from srl_agent.train.config import TrainConfig


def resolve_init_from(path: str | Path) -> str:
    """The directory with full weights inside what `--init-from` names: a model directory, a run directory (its
    final/), or a resumable checkpoint (its model/). A LoRA adapter alone is refused: the merged final/ is loadable."""
    p = Path(path)
    for candidate in (p, p / "final", p / "model"):
        if (candidate / "config.json").is_file() and (any(candidate.glob("*.safetensors")) or any(candidate.glob("*.bin"))):
            return str(candidate)
        if (candidate / "adapter_config.json").is_file():
            raise UserError(f"--init-from {path}: {candidate} holds a LoRA adapter only; start from the run's merged "
                            "final/ (merge_lora=true) instead")
    if not p.exists():
        raise UserError(f"--init-from {path}: no such directory")
    if (p / "sharded").is_dir():
        raise UserError(f"--init-from {path}: an FSDP checkpoint holds its weights in shards (sharded/); start from the "
                        "run's final/ (full weights), or --resume the run with the same accelerate FSDP config")
    raise UserError(f"--init-from {path}: no model weights there, nor in {p / 'final'} or {p / 'model'} "
                    "(expected a run directory, its final/, or checkpoints/step_N/)")


def with_init_from(cfg: TrainConfig) -> TrainConfig:
    """`init_from` set: the run's policy starts from those weights (and their tokenizer) instead of `model`."""
    if not cfg.init_from:
        return cfg
    return dataclasses.replace(cfg, model=resolve_init_from(cfg.init_from))


def lr_lambda(cfg: TrainConfig, total: int):
    """Multiplier of cfg.lr after `i` optimizer steps: linear warmup, then constant / linear / cosine decay to 0."""
    warmup = int(cfg.warmup_ratio * total)

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / (warmup + 1)
        progress = (i - warmup) / max(1, total - warmup)
        if cfg.lr_schedule == "linear":
            return max(0.0, 1.0 - progress)
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


def say(accelerator: Any, text: str) -> None:
    if accelerator.is_main_process:
        print(text, file=sys.stderr, flush=True)


@dataclass
class Run:
    """Everything a method's loop trains with. Built by `start_run`; the loop owns what it samples from."""

    cfg: TrainConfig
    output: Path
    accelerator: Any
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    state: dict[str, Any] | None  # trainer_state.pt of the checkpoint a resumed run continues from
    start_step: int
    logger: Any = None  # train.metrics.MetricsLogger, opened by `open_logs`
    ref_model: Any = None  # the frozen KL reference (kl_coef > 0)
    rollout_model: Any = None  # FSDP2: the plain, unsharded copy the rollout engine generates with (train/fsdp.py)

    @property
    def resumed(self) -> bool:
        return self.state is not None

    def say(self, text: str) -> None:
        say(self.accelerator, text)

    def rollout_policy(self) -> Any:
        """The model the rollout engine samples from, with the current weights: the policy itself, or under FSDP2 its
        unsharded copy, refreshed from the shards (a collective: every rank calls it at the same point)."""
        if self.rollout_model is None:
            return self.model
        from srl_agent.train.fsdp import refresh

        return refresh(self.model, self.rollout_model)

    def open_logs(self) -> None:
        """metrics.jsonl / samples.jsonl (cut back to the resumed step), TensorBoard / W&B when configured."""
        from srl_agent.train.metrics import MetricsLogger

        c = self.cfg
        self.logger = MetricsLogger(self.output, self.start_step, self.accelerator.is_main_process, c.tensorboard,
                                    c.wandb, c.to_dict())

    def progress_bar(self, total: int, desc: str) -> Any:
        from tqdm import tqdm

        return tqdm(range(self.start_step, total), initial=self.start_step, total=total, desc=desc, file=sys.stderr,
                    disable=not (self.cfg.progress and self.accelerator.is_main_process))

    def save(self, step: int, sampler_state: dict[str, int]) -> Path:
        from srl_agent.train import checkpoint as ckpt

        return ckpt.save_checkpoint(ckpt.checkpoint_dir(self.output, step), model=self.model, tokenizer=self.tokenizer,
                                    optimizer=self.optimizer, scheduler=self.scheduler, sampler_state=sampler_state,
                                    step=step, config=self.cfg.to_dict(), accelerator=self.accelerator)

    def maybe_save(self, step: int, sampler_state: dict[str, int]) -> None:
        """After `step` steps: a resumable checkpoint every `save_every`."""
        if self.cfg.save_every and step % self.cfg.save_every == 0:
            self.save(step, sampler_state)

    def finish(self, engine: Any = None) -> Path:
        """Close the logs, check that DDP replicas agree, write OUTPUT/final, close the rollout engine and the process
        group; returns OUTPUT/final."""
        from srl_agent.train import checkpoint as ckpt
        from srl_agent.train.distributed import check_replicas, shutdown

        if self.logger is not None:
            self.logger.close()
        check_replicas(self.accelerator, self.model, self.output)  # DDP: every rank holds bitwise the same weights
        final = ckpt.save_final(self.output / "final", self.model, self.tokenizer, self.cfg.merge_lora, self.accelerator)
        self.say(f"final model: {final}")
        shutdown(self.accelerator, engine)
        return final


def start_run(cfg: TrainConfig, output: Path, resume: bool, total_updates: int) -> Run:
    """Accelerator, policy, AdamW, warmup + schedule, and the state of the checkpoint a resumed run continues from.

    bf16 on GPU is mixed precision (fp32 master weights, bf16 compute): at lr 5e-7 pure-bf16 weights would round most
    updates away. LoRA keeps its frozen base in bf16 (peft keeps the adapters in fp32). Under FSDP2 (an accelerate
    config with fsdp_version 2, train/fsdp.py) the policy is sharded over the processes, with the same dtypes."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from srl_agent.models.load import load_policy, resolve_dtype
    from srl_agent.train import checkpoint as ckpt
    from srl_agent.train import fsdp

    bf16 = resolve_dtype(cfg.dtype) == torch.bfloat16
    fsdp.refuse_deepspeed()
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="bf16" if bf16 else "no")
    fsdp_settings = fsdp.requested(accelerator)
    if fsdp_settings is not None:
        fsdp.refuse_unsupported(cfg, fsdp_settings)
        if accelerator.num_processes == 1:
            say(accelerator, "note: FSDP with one process has nothing to shard: training unsharded")
            fsdp_settings = None
    set_seed(cfg.seed)
    output.mkdir(parents=True, exist_ok=True)
    resume_from = ckpt.latest_checkpoint(output) if resume else None
    if resume and resume_from is None:
        raise UserError(f"--resume: no complete checkpoint under {output}/checkpoints (save_every={cfg.save_every})")
    if not resume and (output / "metrics.jsonl").exists():
        raise UserError(f"{output} already holds a run; pass --resume to continue it, or choose another --output")
    if cfg.method == "srl":  # before any weights load: the plan's answer in one line (no-op on CPU)
        from srl_agent.plan.from_config import check_fits

        check_fits(cfg, accelerator.num_processes, "ddp" if fsdp_settings is None else "fsdp2")
    spec = cfg.model_spec
    if bf16 and cfg.finetune == "full":
        spec = dataclasses.replace(spec, dtype="float32")
    sharded_resume = resume_from is not None and ckpt.is_sharded_checkpoint(resume_from)
    # A sharded checkpoint holds no full weights: the policy is built as at the start, then its shards are loaded.
    model, tokenizer = ckpt.load_resumed_policy(resume_from, spec) if resume_from and not sharded_resume else load_policy(spec)
    rollout_model = None
    if fsdp_settings is not None:
        rollout_model = fsdp.rollout_copy(model, bf16).to(accelerator.device)
        model = fsdp.shard(model, fsdp_settings, bf16)
        fsdp.refresh(model, rollout_model)  # rank 0's weights (the others may have loaded zeros, see fsdp.shard)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  betas=(cfg.adam_beta1, cfg.adam_beta2))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_updates))
    if fsdp_settings is None:
        model, optimizer = accelerator.prepare(model, optimizer)
    state = None
    if resume_from is not None:
        state = ckpt.load_trainer_state(resume_from)
        if sharded_resume:
            if fsdp_settings is None:
                raise UserError(f"--resume: {resume_from} is a sharded (FSDP) checkpoint; resume it with the same "
                                "accelerate FSDP config (docs/accelerate/fsdp.yaml)")
            fsdp.load_sharded(resume_from / ckpt.SHARDED_DIR, model, optimizer)
        else:
            optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        ckpt.set_rng_states(state["rng"])
        say(accelerator, f"resumed from {resume_from} at step {state['step']}")
    if accelerator.is_main_process:
        (output / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    return Run(cfg, output, accelerator, model, tokenizer, optimizer, scheduler, state, state["step"] if state else 0,
               rollout_model=rollout_model)


def make_rollout_engine(run: Run) -> Any:
    """The rollout engine on the run's policy; built after any warm start or resume (vLLM copies the weights)."""
    from srl_agent.rollout import make_engine

    return make_engine(run.cfg.engine, run.rollout_policy(), run.tokenizer, **run.cfg.engine_options)


def load_reference(run: Run) -> Any:
    """The frozen KL reference (kl_coef > 0): the policy the run starts from (after any warm start), saved in
    OUTPUT/reference so that a resumed run compares against the same weights."""
    import copy

    from srl_agent.models.load import load_base_model
    from srl_agent.train import checkpoint as ckpt

    ref_path = run.output / "reference"
    if not run.resumed:
        # FSDP2: the full weights of the unsharded rollout copy (the policy's own parameters are shards).
        ref_model = copy.deepcopy(run.rollout_policy() if run.rollout_model is not None else ckpt._unwrap(run.model))
        if hasattr(ref_model, "peft_config"):
            ref_model = ref_model.merge_and_unload()
        if run.accelerator.is_main_process:
            ref_model.save_pretrained(ref_path)
    else:
        ref_model = load_base_model(str(ref_path), run.cfg.dtype, run.cfg.seed)
    return ref_model.eval().requires_grad_(False).to(run.accelerator.device)
