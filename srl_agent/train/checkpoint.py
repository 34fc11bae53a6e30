"""Checkpoints that resume exactly, and a final checkpoint that loads with `AutoModelForCausalLM.from_pretrained`.

    OUTPUT/checkpoints/step_000050/
        model/               save_pretrained: full weights, or the LoRA adapter; plus the tokenizer
                             (FSDP2: the config and tokenizer only; the weights are in sharded/)
        sharded/             FSDP2 only: model and AdamW state, one file per rank (torch.distributed.checkpoint)
        trainer_state.pt     optimizer (unless sharded), scheduler, prompt-sampler position, RNG states, step
        config.json          the resolved TrainConfig
        manifest.json        every file's size, written last (a damaged checkpoint is found by comparing)
    OUTPUT/final/            full weights (LoRA merged when merge_lora) + tokenizer

Atomic: a checkpoint is written under a temporary name (`.step_000050.partial`), every file fsynced, then renamed, so
a kill or a crash during a save never leaves a directory that looks complete. On `--resume` each checkpoint, newest
first, is checked (manifest sizes, safetensors headers, the trainer state's zip directory): a damaged one is named,
with the file and what is wrong, and the previous complete one is used instead; if none is left the run stops in one
line saying what to do.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError

STATE_FILE = "trainer_state.pt"
MANIFEST = "manifest.json"
SHARDED_DIR = "sharded"
_STEP_DIR = re.compile(r"step_\d+")


def checkpoint_dir(output: Path, step: int) -> Path:
    return output / "checkpoints" / f"step_{step:06d}"


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete, undamaged checkpoint; a damaged newer one is named on stderr and skipped.

    None when there is no checkpoint at all; UserError when there are some but every one is damaged."""
    steps = sorted((p for p in (output / "checkpoints").glob("step_*") if _STEP_DIR.fullmatch(p.name) and p.is_dir()),
                   reverse=True)
    damaged: list[str] = []
    for path in steps:
        problem = checkpoint_problem(path)
        if problem is None:
            if damaged:
                print(f"--resume: damaged checkpoint {'; '.join(damaged)}; resuming from the previous complete "
                      f"checkpoint {path}", file=sys.stderr)
            return path
        damaged.append(problem)
    if damaged:
        raise UserError(f"--resume: no usable checkpoint under {output / 'checkpoints'} (newest: {damaged[0]}); "
                        "restore it from a copy, or delete the run directory and start again")
    return None


def checkpoint_problem(path: Path) -> str | None:
    """None for a complete checkpoint, else "FILE: what is wrong". Cheap: sizes and headers, no weights are read."""
    if not (path / STATE_FILE).is_file():
        return f"{path}: incomplete (no {STATE_FILE}: the save was interrupted)"
    manifest = path / MANIFEST
    if manifest.is_file():
        try:
            sizes = json.loads(manifest.read_text(encoding="utf-8"))["sizes"]
        except (ValueError, KeyError, UnicodeDecodeError) as e:
            return f"{manifest}: unreadable ({e.__class__.__name__})"
        for name, size in sizes.items():
            f = path / name
            actual = f.stat().st_size if f.is_file() else None
            if actual != size:
                what = "missing" if actual is None else f"{actual} bytes instead of {size} (truncated or overwritten)"
                return f"{f}: {what}"
    for f in sorted(path.rglob("*.safetensors")):
        if problem := _safetensors_problem(f):
            return f"{f}: {problem}"
    try:
        with zipfile.ZipFile(path / STATE_FILE) as z:  # torch.save writes a zip; a cut file has no central directory
            z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        return f"{path / STATE_FILE}: damaged ({e})"
    return None


def _safetensors_problem(f: Path) -> str | None:
    """The format: 8-byte header length, a JSON header with each tensor's byte range, then the data."""
    size = f.stat().st_size
    try:
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > size:
                return f"damaged (header of {n} bytes in a {size}-byte file)"
            header = json.loads(fh.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as e:
        return f"damaged ({e.__class__.__name__} in its header)"
    if size != 8 + n + end:
        return f"{size} bytes instead of {8 + n + end} (truncated)"
    return None


def _fsync_tree(root: Path) -> dict[str, int]:
    """fsync every file and directory under root; returns each file's size (the manifest)."""
    sizes: dict[str, int] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fp = Path(dirpath, name)
            with fp.open("rb") as fh:
                os.fsync(fh.fileno())
            sizes[str(fp.relative_to(root))] = fp.stat().st_size
        _fsync_dir(Path(dirpath))
    return sizes


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def is_sharded_checkpoint(path: Path) -> bool:
    return (path / SHARDED_DIR).is_dir()


def save_checkpoint(path: Path, *, model: Any, tokenizer: Any, optimizer: Any, scheduler: Any, sampler_state: dict[str, int],
                    step: int, config: dict[str, Any], accelerator: Any) -> Path:
    import torch

    from srl_agent.train import fsdp

    sharded = fsdp.is_sharded(model)
    tmp = path.parent / f".{path.name}.partial"  # not step_*: never taken for a checkpoint, even when complete
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # left by a save that was killed
        tmp.mkdir(parents=True)
    if sharded:  # every rank writes its shard of the weights and the AdamW state
        accelerator.wait_for_everyone()
        fsdp.save_sharded(tmp / SHARDED_DIR, model, optimizer)
        accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if sharded:
            model.config.save_pretrained(tmp / "model")
        else:
            _unwrap(model).save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        state = {"step": step, "scheduler": scheduler.state_dict(), "sampler": sampler_state, "rng": rng_states()}
        if not sharded:
            state["optimizer"] = optimizer.state_dict()
        torch.save(state, tmp / STATE_FILE)
        sizes = _fsync_tree(tmp)
        (tmp / MANIFEST).write_text(json.dumps({"sizes": sizes}, indent=1) + "\n")
        _fsync_tree(tmp)
        old = path.parent / f".{path.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():  # the same step saved again (a resumed run passing a damaged checkpoint's step)
            os.rename(path, old)  # atomic: never a half-deleted step_* directory
        os.rename(tmp, path)
        _fsync_dir(path.parent)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def load_trainer_state(path: Path) -> dict[str, Any]:
    import torch

    file = path / STATE_FILE
    if not file.is_file():
        raise UserError(f"{path} is not a complete checkpoint (no {STATE_FILE})")
    try:
        return torch.load(file, map_location="cpu", weights_only=False)
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{file}: damaged ({str(e).splitlines()[0][:200]}); resume from an earlier checkpoint by "
                        f"moving {path} aside") from None


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
    """Weights that load with AutoModelForCausalLM.from_pretrained (and vLLM) when merged or full; FSDP2: the full
    weights gathered to rank 0."""
    from srl_agent.train import fsdp

    accelerator.wait_for_everyone()
    if fsdp.is_sharded(model):
        fsdp.save_full(model, path, tokenizer, accelerator.is_main_process)
    elif accelerator.is_main_process:
        model = _unwrap(model)
        if hasattr(model, "peft_config") and merge_lora:
            model = model.merge_and_unload()
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    accelerator.wait_for_everyone()
    return path
