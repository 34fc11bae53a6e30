"""`srl-agent perf plan`: the memory plan against measured peaks of a real training micro-step on this machine, for
the tiny model, SmolLM2-135M (when installed) and a reduced real Qwen2.5-1.5B (4 layers, half width, the real
vocabulary): fp32 and bf16, full and LoRA, with and without gradient checkpointing, in the trainer's default
shared-prompt packing, plus the naive packing for fp32 full and bf16 LoRA. One fresh process per row."""

from __future__ import annotations

import itertools
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from srl_agent.perf.plan_measure import MicroStep, measure, plan_input
from srl_agent.plan.memory import estimate_memory
from srl_agent.plan.shape import ModelShape, load_shape

GRID = [{"dtype": d, "finetune": f, "gradient_checkpointing": c, "shared_prompt": True}
        for d, f, c in itertools.product(("float32", "bfloat16"), ("full", "lora"), (False, True))]
GRID += [{"dtype": "float32", "finetune": "full", "gradient_checkpointing": False, "shared_prompt": False},
         {"dtype": "bfloat16", "finetune": "lora", "gradient_checkpointing": False, "shared_prompt": False}]
REDUCED_QWEN = {"num_layers": 4, "width_divisor": 2}


def _models(workdir: Path, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(label, what MicroStep loads) for each name; "qwen2.5-1.5b-reduced" is written here from the shipped config."""
    out = []
    for name in names:
        if name == "qwen2.5-1.5b-reduced":
            from srl_agent.models.real import save_random_init
            from srl_agent.models.tiny import tiny_tokenizer

            qwen = save_random_init("qwen2.5-1.5b-instruct", workdir / name, **REDUCED_QWEN)
            tiny_tokenizer().save_pretrained(qwen)  # the step feeds random token ids; any tokenizer loads
            out.append((name, str(qwen)))
        else:
            out.append((name, name))
    return out


def run_plan_bench(models: tuple[str, ...] = ("tiny", "smollm2-135m", "qwen2.5-1.5b-reduced"), group_size: int = 4,
                   prompt_tokens: int = 512, completion_tokens: int = 128) -> dict[str, Any]:
    """One micro-step = one SRL group (G samples of one prompt), the grid above for each model."""
    from tqdm import tqdm

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(label, path, variant) for label, path in _models(Path(tmp), models) for variant in GRID]
        for label, path, variant in tqdm(cases, desc="perf plan", unit="micro-step"):
            step = MicroStep(path, micro_batch_size=group_size, group_size=group_size, prompt_tokens=prompt_tokens,
                             completion_tokens=completion_tokens, **variant)  # type: ignore[arg-type]
            shape = load_shape(path)
            row: dict[str, Any] = {**asdict(step), "model": label, "shape": asdict(shape), **_estimate(step, shape)}
            try:
                measured = measure(step)
            except (RuntimeError, subprocess.TimeoutExpired) as e:  # recorded; the grid goes on
                rows.append({**row, "failed": str(e)[-500:]})
                tqdm.write(f"{label:22s} {variant}: FAILED {str(e)[-200:]}")
                continue
            rows.append({**row, "measured_bytes": measured["peak"], "measured": measured,
                         "error": (row["estimated_bytes"] - measured["peak"]) / measured["peak"]})
            tqdm.write(f"{label:22s} {variant}: measured {measured['peak'] / 2**20:7.1f} MiB, estimated "
                       f"{row['estimated_bytes'] / 2**20:7.1f} MiB ({rows[-1]['error']:+.1%})")
    return _summary(rows)


def _estimate(step: MicroStep, shape: ModelShape) -> dict[str, Any]:
    plan = estimate_memory(plan_input(step, shape))
    return {"estimated_bytes": plan.train_peak, "estimate": {"persistent": dict(plan.persistent), "train": dict(plan.train),
                                                            "train_moment": plan.train_moment}}


def reestimate(result: dict[str, Any]) -> dict[str, Any]:
    """A saved result with every estimate recomputed by the current plan, the measurements kept: checks a change
    of the memory model against measured micro-steps without measuring them again."""
    rows = []
    for row in result["rows"]:
        step = MicroStep(**{f: row[f] for f in MicroStep.__dataclass_fields__})
        new = {**row, **_estimate(step, ModelShape(**row["shape"]))}
        if "measured_bytes" in row:
            new["error"] = (new["estimated_bytes"] - row["measured_bytes"]) / row["measured_bytes"]
        rows.append(new)
    return {**_summary(rows), "how": result["how"]}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [abs(r["error"]) for r in rows if "error" in r] or [float("nan")]
    return {"rows": rows, "max_abs_error": max(errors), "mean_abs_error": sum(errors) / len(errors),
            "how": "one fresh process per row, one thread, MALLOC_MMAP_THRESHOLD_=4096: peak resident set (VmHWM, "
                   "reset after the model, its AdamW moments and a gc) minus the resident set before the model, "
                   "over one training micro-step as the trainer runs it (its packer, log-probs, autocast under bf16, "
                   "backward, AdamW step); `measured` splits it: states after loading, live after the forward, and "
                   "the bytes autograd saved (saved-tensor hooks, unique storages; not under checkpointing)"}
