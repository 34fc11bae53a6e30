"""Checkpoints that resume exactly, and a final checkpoint that loads with `AutoModelForCausalLM.from_pretrained`.

    OUTPUT/checkpoints/step_000050/
        model/               save_pretrained: full weights, or the LoRA adapter; plus the tokenizer
        trainer_state.pt     optimizer, scheduler, prompt-sampler position, RNG states, step
        config.json          the resolved TrainConfig
    OUTPUT/final/            full weights (LoRA merged when merge_lora) + tokenizer
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError

STATE_FILE = "trainer_state.pt"


def checkpoint_dir(output: Path, step: int) -> Path:
    return output / "checkpoints" / f"step_{step:06d}"


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint (one whose trainer_state.pt was written: it is written last)."""
    done = sorted(p.parent for p in (output / "checkpoints").glob(f"step_*/{STATE_FILE}"))
    return done[-1] if done else None


def _unwrap(model: Any) -> Any:
    while hasattr(model, "module"):
        model = model.module
    return model


def rng_states() -> dict[str, Any]:
    import torch

    states: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    import torch

    random.setstate(states["python"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, *, model: Any, tokenizer: Any, optimizer: Any, scheduler: Any, sampler_state: dict[str, int],
                    step: int, config: dict[str, Any], accelerator: Any) -> Path:
    import torch

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        path.mkdir(parents=True, exist_ok=True)
        _unwrap(model).save_pretrained(path / "model")
        tokenizer.save_pretrained(path / "model")
        (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        state = {"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "sampler": sampler_state, "rng": rng_states()}
        tmp = path / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.rename(path / STATE_FILE)  # atomic: a checkpoint without trainer_state.pt is incomplete and ignored
    accelerator.wait_for_everyone()
    return path


def load_trainer_state(path: Path) -> dict[str, Any]:
    import torch

    file = path / STATE_FILE
    if not file.is_file():
        raise UserError(f"{path} is not a complete checkpoint (no {STATE_FILE})")
    return torch.load(file, map_location="cpu", weights_only=False)


def load_resumed_policy(path: Path, spec: Any) -> tuple[Any, Any]:
    """The policy as saved in a checkpoint: full weights from checkpoint/model, or the base plus the saved adapter."""
    import dataclasses

    from srl_agent.models.load import _checkpointing, load_base_model, load_policy, load_tokenizer

    model_dir = path / "model"
    if spec.finetune == "full":
        return load_policy(dataclasses.replace(spec, name=str(model_dir)))
    from peft import PeftModel

    tokenizer = load_tokenizer(str(model_dir))
    base = load_base_model(spec.name, spec.dtype, spec.seed, tokenizer)
    if spec.gradient_checkpointing:
        _checkpointing(base)
        base.enable_input_require_grads()
    model = PeftModel.from_pretrained(base, model_dir, is_trainable=True)
    model.train()
    return model, tokenizer


def save_final(path: Path, model: Any, tokenizer: Any, merge_lora: bool, accelerator: Any) -> Path:
    """Weights that load with AutoModelForCausalLM.from_pretrained (and vLLM) when merged or full."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model = _unwrap(model)
        if hasattr(model, "peft_config") and merge_lora:
            model = model.merge_and_unload()
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    accelerator.wait_for_everyone()
    return path
