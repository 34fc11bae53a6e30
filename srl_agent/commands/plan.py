"""`srl-agent plan`: memory per GPU and time per SRL step of a training run, before renting the hardware."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

EPILOG = """\
The run's settings come from the same config as `srl-agent train` (paper defaults < --config FILE < key=value).
  srl-agent plan --model Qwen/Qwen2.5-Coder-7B-Instruct --gpus 8 --gpu H100 --sharding fsdp2 gradient_checkpointing=true
  srl-agent plan --model Qwen/Qwen2.5-Coder-7B-Instruct --gpu A100-80GB finetune=lora
  srl-agent plan --paper-table          (the README's table: the paper's setting on 1-8 x 80 GB, and 7B LoRA on one)"""


def register(sub) -> None:
    p = sub.add_parser("plan", help="will a training run fit? memory per GPU and time per step, estimated",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="Hub name, local directory, shipped config or 'tiny' (default: the config's)")
    p.add_argument("--config", type=Path, help="TOML file with train config keys")
    p.add_argument("--gpus", type=int, default=1, help="GPUs (one process each; default 1)")
    p.add_argument("--gpu", default="H100-80GB", help="GPU type (H200, H100-80GB, A100-80GB, A100-40GB, L40S, A10G, "
                   "RTX4090, or custom with --gpu-memory-gib)")
    p.add_argument("--gpu-memory-gib", type=float, help="memory per GPU, overriding the type's")
    p.add_argument("--sharding", choices=("ddp", "fsdp2"), default="ddp", help="replicate (ddp) or shard (fsdp2) model states")
    p.add_argument("--prompt-tokens", type=int, help="prompt length to plan for (default: max_prompt_tokens)")
    p.add_argument("--paper-table", action="store_true", help="print the README's markdown table and exit")
    p.add_argument("--json", help="write the plan as JSON here")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="train config overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srl_agent.plan.advice import estimate, render
    from srl_agent.plan.from_config import plan_input
    from srl_agent.plan.hardware import gpu_spec
    from srl_agent.plan.shape import load_shape
    from srl_agent.train.config import resolve_config

    if args.paper_table:
        from srl_agent.plan.table import paper_table

        print(paper_table())
        return 0
    cfg = resolve_config(args.config, args.overrides, model=args.model)
    inp = plan_input(cfg, load_shape(cfg.model), gpu_spec(args.gpu, args.gpu_memory_gib), args.gpus, args.sharding,
                     args.prompt_tokens)
    plan = estimate(inp)
    print(render(plan))
    if args.json:
        record = {"input": {**asdict(inp), "shape": asdict(inp.shape), "gpu": asdict(inp.gpu)},
                  "memory": {"persistent": plan.memory.persistent, "train": plan.memory.train,
                             "generate": plan.memory.generate, "peak": plan.memory.peak},
                  "time_s": asdict(plan.time), "fits": plan.fits, "fix": plan.fix}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0 if plan.fits else 1
