"""`srl-agent perf shared-prompt`: the naive path (each completion with its own copy of the prompt) against the
shared-prompt path (each group's prompt once), measured side by side in one invocation.

Two shapes, each run as interleaved repetitions (naive, shared, naive, shared, ...), every measurement in a fresh
process (so that peak memory is its own; on CPU the peak resident set size, on a GPU torch's peak allocation):

  - recipe: whole SRL steps of the tiny_cpu.toml recipe (tiny model, fp32, 8 prompts x G=8, up to 128 new tokens,
    micro-batches of 32, dynamic sampling off), through the real training loop; `shared_prompt` switches both the
    train phase and the HF engine's shared prefill. Reported: train-phase time and whole-step time (mean over the
    steps after the first), peak memory, and unique / naive trained tokens.
  - real: the train phase alone (one optimizer step through `train_on_groups`) on groups whose prompts are real
    SRL prompts built from the shared SWE-smith / SWE-Gym / nebius trajectories with the paper's prompt settings
    (history window 2, observations up to 4,000 characters), G completions of `completion_tokens` +- 50% tokens.
    Generation at these lengths is left out (CPU time); the prompt-length distribution is in the result.

Times are the median over repetitions with [min, max]; speedups are ratios of the medians.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REAL_SETTINGS = ["history_window=2", "max_observation_chars=4000", "max_prompt_tokens=16384"]


def peak_memory_mb() -> float:
    """Peak GPU allocation (CUDA) or peak resident set size (VmHWM) of this process, in MiB."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------------------------------------------
# One measurement (run in a child process)


def measure_recipe(shared: bool, steps: int, seed: int, trajectories: list[str]) -> dict[str, Any]:
    import torch

    from srl_agent.perf.train import SETTINGS
    from srl_agent.train.config import resolve_config
    from srl_agent.train.loop import train
    from srl_agent.train.metrics import read_jsonl

    torch.set_num_threads(1)
    cfg = resolve_config(overrides=[*SETTINGS, f"shared_prompt={str(shared).lower()}"], model="tiny", steps=steps, seed=seed)
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as tmp:
        train(cfg, trajectories, Path(tmp))
        rows = read_jsonl(Path(tmp) / "metrics.jsonl")[1:]  # the first step is warm-up
    return {
        "train_s": statistics.fmean(r["time_train_s"] for r in rows),
        "step_s": statistics.fmean(r["time_step_s"] for r in rows),
        "generate_s": statistics.fmean(r["time_generate_s"] for r in rows),
        "naive_tokens": statistics.fmean(r["trained_tokens"] for r in rows),
        "unique_tokens": statistics.fmean(r["unique_tokens"] for r in rows),
        "peak_mb": peak_memory_mb(),
    }


def real_groups(files: list[str], n_groups: int, group_size: int, completion_tokens: int, seed: int) -> tuple[list[Any], list[int]]:
    """`n_groups` groups with real SRL prompts (tiny tokenizer) and G random completions of realistic lengths."""
    from srl_agent.models.tiny import tiny_tokenizer
    from srl_agent.rollout import Sample
    from srl_agent.train.config import resolve_config
    from srl_agent.train.dataset import load_instances, tokenize_instances
    from srl_agent.train.sources import Group, Member

    cfg = resolve_config(overrides=REAL_SETTINGS)
    instances, report = load_instances(files, cfg)
    prompts = tokenize_instances(instances, tiny_tokenizer(), cfg, report)
    rng = random.Random(seed)
    vocab = len(tiny_tokenizer())
    groups = []
    for p in rng.sample(prompts, n_groups):
        lens = [rng.randint(completion_tokens // 2, completion_tokens * 3 // 2) for _ in range(group_size)]
        members = tuple(Member((Sample(tuple(p.prompt_ids), tuple(rng.randrange(3, vocab) for _ in range(n)), (-6.9,) * n, "", True),),
                               rng.uniform(-1, 1)) for n in lens)
        groups.append(Group(p, tuple(p.prompt_ids), members, kept=True))
    return groups, [len(p.prompt_ids) for p in prompts]


def measure_real(shared: bool, files: list[str], n_groups: int, completion_tokens: int, seed: int) -> dict[str, Any]:
    import time

    import torch

    from srl_agent.train.config import resolve_config
    from srl_agent.train.grpo import minibatches, train_on_sequences
    from srl_agent.train.runs import start_run

    torch.set_num_threads(1)
    cfg = resolve_config(overrides=[*REAL_SETTINGS, "model=tiny", "group_size=8", "micro_batch_size=8", "lr=1e-4",
                                    f"max_completion_tokens={completion_tokens * 3 // 2}", "progress=false",
                                    f"shared_prompt={str(shared).lower()}"], seed=seed)
    groups, _ = real_groups(files, n_groups, cfg.group_size, completion_tokens, seed)
    with tempfile.TemporaryDirectory(prefix="bench-shared-real-") as tmp:
        run = start_run(cfg, Path(tmp), resume=False, total_updates=4)
        minis = minibatches(groups, cfg, cfg.max_completion_tokens)
        times = []
        for _ in range(2):  # the first is warm-up
            t0 = time.perf_counter()
            metrics = train_on_sequences(run, minis, groups)
            times.append(time.perf_counter() - t0)
    return {"train_s": times[-1], "naive_tokens": metrics["trained_tokens"], "unique_tokens": metrics["unique_tokens"],
            "peak_mb": peak_memory_mb()}


def child(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["kind"] == "recipe":
        return measure_recipe(spec["shared"], spec["steps"], spec["seed"], spec["trajectories"])
    return measure_real(spec["shared"], spec["files"], spec["groups"], spec["completion_tokens"], spec["seed"])


def _in_child(spec: dict[str, Any]) -> dict[str, Any]:
    code = "import json, sys; from srl_agent.perf.shared_prompt import child; print(json.dumps(child(json.loads(sys.argv[1]))))"
    out = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {spec['kind']} shared={spec['shared']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# Side by side


def _summary(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = [r[key] for r in runs]
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def compare(spec: dict[str, Any], repeats: int, keys: tuple[str, ...]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"naive": [], "shared": []}
    for r in range(repeats):
        for name in ("naive", "shared") if r % 2 == 0 else ("shared", "naive"):
            print(f"  {spec['kind']}: {name} ({r + 1}/{repeats}) …", file=sys.stderr, flush=True)
            runs[name].append(_in_child({**spec, "shared": name == "shared"}))
    out: dict[str, Any] = {name: {k: _summary(rs, k) for k in keys} for name, rs in runs.items()}
    for k in keys:
        if k.endswith("_s"):
            out[f"{k[:-2]}_speedup"] = round(out["naive"][k]["median"] / out["shared"][k]["median"], 2)
    out["peak_memory_ratio"] = round(out["shared"]["peak_mb"]["median"] / out["naive"]["peak_mb"]["median"], 2)
    out["unique_over_naive_tokens"] = round(runs["shared"][0]["unique_tokens"] / runs["shared"][0]["naive_tokens"], 3)
    return out


def run_shared_prompt_bench(trajectories: list[str], real_files: list[str], steps: int = 4, repeats: int = 3,
                            real_groups_n: int = 2, completion_tokens: int = 256, seed: int = 0) -> dict[str, Any]:
    import torch
    import transformers

    result: dict[str, Any] = {"setup": {"device": "cuda" if torch.cuda.is_available() else "cpu, 1 thread",
                                        "model": "tiny (random init, 0.2M params, fp32)", "repeats": repeats,
                                        "torch_version": torch.__version__, "transformers_version": transformers.__version__}}
    result["recipe"] = {"shape": "tiny_cpu.toml: 8 prompts x G=8, <=128 new tokens, micro-batch 32, dynamic sampling off",
                        "steps": steps, "timed_steps": steps - 1,
                        **compare({"kind": "recipe", "steps": steps, "seed": seed, "trajectories": trajectories}, repeats,
                                  ("train_s", "step_s", "generate_s", "peak_mb"))}
    if real_files:
        _, lengths = real_groups(real_files, 1, 1, 1, seed)
        lengths.sort()
        result["real"] = {
            "shape": f"{real_groups_n} groups x G=8, real prompts, completions {completion_tokens} +- 50% tokens, micro-batch 8",
            "prompt_tokens": {"instances": len(lengths), "median": statistics.median(lengths),
                              "p10": lengths[len(lengths) // 10], "p90": lengths[len(lengths) * 9 // 10], "max": lengths[-1],
                              "tokenizer": "tiny (byte-level BPE, ~2 characters a token)"},
            "files": [Path(f).name for f in real_files],
            **compare({"kind": "real", "files": real_files, "groups": real_groups_n, "completion_tokens": completion_tokens,
                       "seed": seed}, repeats, ("train_s", "peak_mb")),
        }
    return result
