"""`srl-agent perf plan`: the memory plan against measured peaks of a real training micro-step on this machine, for
the tiny model, SmolLM2-135M (when installed) and a reduced real Qwen2.5 (2 layers, quarter width, real vocabulary),
in fp32 and bf16, full and LoRA, with and without gradient checkpointing."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from srl_agent.perf.plan_measure import MicroStep, estimate_micro_step, measure

VARIANTS = (
    {"dtype": "float32"},
    {"dtype": "bfloat16"},
    {"dtype": "bfloat16", "gradient_checkpointing": True},
    {"dtype": "bfloat16", "finetune": "lora"},
    {"dtype": "bfloat16", "finetune": "lora", "gradient_checkpointing": True},
)


def _models(workdir: Path) -> list[str]:
    from srl_agent.models.real import save_random_init
    from srl_agent.models.tiny import tiny_tokenizer

    qwen = save_random_init("qwen2.5-1.5b-instruct", workdir / "qwen2.5-reduced", num_layers=2, width_divisor=4)
    tiny_tokenizer().save_pretrained(qwen)  # the step feeds random token ids; any tokenizer loads
    return ["tiny", "smollm2-135m", str(qwen)]


def run_plan_bench(micro_batch_size: int = 2, prompt_tokens: int = 192, completion_tokens: int = 32) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in _models(Path(tmp)):
            for variant in VARIANTS:
                step = MicroStep(model, micro_batch_size=micro_batch_size, prompt_tokens=prompt_tokens,
                                 completion_tokens=completion_tokens, **variant)
                label = Path(model).name if model != "tiny" else "tiny"
                estimated = estimate_micro_step(step)
                try:
                    measured = measure(step)
                except (RuntimeError, subprocess.TimeoutExpired) as e:  # recorded; the grid goes on
                    rows.append({**asdict(step), "model": label, "estimated_bytes": estimated, "failed": str(e)[-500:]})
                    print(f"{label:24s} {variant}: FAILED {str(e)[-200:]}", flush=True)
                    continue
                rows.append({**asdict(step), "model": label, "measured_bytes": measured, "estimated_bytes": estimated,
                             "error": (estimated - measured) / measured})
                print(f"{label:24s} {variant}: measured {measured / 2**20:7.1f} MiB, estimated "
                      f"{estimated / 2**20:7.1f} MiB ({rows[-1]['error']:+.0%})", flush=True)
    errors = [abs(r["error"]) for r in rows if "error" in r] or [float("nan")]
    return {"rows": rows, "max_abs_error": max(errors), "mean_abs_error": sum(errors) / len(errors),
            "how": "peak RSS (VmHWM after a reset) of a fresh process: model load + 2 micro-steps (forward on the "
                   "completion columns, backward, AdamW), minus the RSS before the model; MALLOC_MMAP_THRESHOLD_=65536"}
