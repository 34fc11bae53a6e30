"""What the SFT and RLVR runs share with the SRL loop: `--init-from`, the policy + optimizer + schedule, resume.

    cfg = with_init_from(cfg)                       # model := the checkpoint's weights
    run = start_run(cfg, output, resume, total_updates=cfg.steps)
    ... run.model, run.optimizer, run.scheduler, run.state (None, or the resumed trainer_state.pt)
"""

from __future__ import annotations

import dataclasses
import json
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
    raise UserError(f"--init-from {path}: no model weights there, nor in {p / 'final'} or {p / 'model'} "
                    "(expected a run directory, its final/, or checkpoints/step_N/)")


def with_init_from(cfg: TrainConfig) -> TrainConfig:
    """`init_from` set: the run's policy starts from those weights (and their tokenizer) instead of `model`."""
    if not cfg.init_from:
        return cfg
    return dataclasses.replace(cfg, model=resolve_init_from(cfg.init_from))


def say(accelerator: Any, text: str) -> None:
    if accelerator.is_main_process:
        print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Run:
    accelerator: Any
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    state: dict[str, Any] | None  # trainer_state.pt of the checkpoint a resumed run continues from
    start_step: int


def start_run(cfg: TrainConfig, output: Path, resume: bool, total_updates: int) -> Run:
    """Accelerator, policy (fp32 master weights under bf16 autocast, as the SRL loop), AdamW, warmup + schedule."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from srl_agent.models.load import load_policy, resolve_dtype
    from srl_agent.train import checkpoint as ckpt
    from srl_agent.train.loop import lr_lambda, model_spec

    bf16 = resolve_dtype(cfg.dtype) == torch.bfloat16
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="bf16" if bf16 else "no")
    set_seed(cfg.seed)
    output.mkdir(parents=True, exist_ok=True)
    resume_from = ckpt.latest_checkpoint(output) if resume else None
    if resume and resume_from is None:
        raise UserError(f"--resume: no complete checkpoint under {output}/checkpoints (save_every={cfg.save_every})")
    if not resume and (output / "metrics.jsonl").exists():
        raise UserError(f"{output} already holds a run; pass --resume to continue it, or choose another --output")
    spec = model_spec(cfg)
    if bf16 and cfg.finetune == "full":
        spec = dataclasses.replace(spec, dtype="float32")
    model, tokenizer = ckpt.load_resumed_policy(resume_from, spec) if resume_from else load_policy(spec)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  betas=(cfg.adam_beta1, cfg.adam_beta2))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_updates))
    model, optimizer = accelerator.prepare(model, optimizer)
    state = None
    if resume_from is not None:
        state = ckpt.load_trainer_state(resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        ckpt.set_rng_states(state["rng"])
        say(accelerator, f"resumed from {resume_from} at step {state['step']}")
    if accelerator.is_main_process:
        (output / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    return Run(accelerator, model, tokenizer, optimizer, scheduler, state, state["step"] if state else 0)


def save(run: Run, output: Path, step: int, sampler_state: dict[str, int], cfg: TrainConfig) -> Path:
    from srl_agent.train import checkpoint as ckpt

    return ckpt.save_checkpoint(ckpt.checkpoint_dir(output, step), model=run.model, tokenizer=run.tokenizer,
                                optimizer=run.optimizer, scheduler=run.scheduler, sampler_state=sampler_state, step=step,
                                config=cfg.to_dict(), accelerator=run.accelerator)
