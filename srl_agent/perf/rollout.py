"""`srl-agent perf rollout`: the in-process vLLM engine vs the vLLM server engine on the same work.

Both engines get the same policy weights, the same prompts (P prompts, G samples each, at most T new tokens, seeded),
one after the other on the same machine. Per repeat, each engine does one "step": a weight sync (what follows every
optimizer step) then one generate call. Reported per engine: generated tokens/s and sync seconds (median, min, max
over the repeats) and the first sync (which includes start-up effects).

The server is started here (srl_agent/rollout/launch.py) from the policy's saved checkpoint, so its start-up is not
part of the numbers; the in-process engine's start-up is not either.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def _measure(engine: Any, model: Any, prompts: list[list[int]], samples: int, params: Any, repeats: int) -> dict:
    syncs, speeds, tokens = [], [], []
    for r in range(repeats + 1):  # repeat 0 warms up (first generate, allocator, caches) and is not counted
        t0 = time.perf_counter()
        engine.sync_weights(model)
        t1 = time.perf_counter()
        out = engine.generate(prompts, samples, params, seed=1000 + r)
        t2 = time.perf_counter()
        n = sum(len(s.completion_ids) for group in out for s in group)
        if r:
            syncs.append(t1 - t0)
            speeds.append(n / (t2 - t1))
            tokens.append(n)
    return {"tokens_per_s": _spread(speeds), "sync_s": _spread(syncs), "generated_tokens": _spread(tokens),
            "load_average_1min_after": round(os.getloadavg()[0], 2)}  # other work on the machine skews both


def run_rollout_bench(model_name: str = "tiny", prompts: int = 8, samples: int = 8, max_tokens: int = 64,
                      repeats: int = 5, prompt_tokens: int = 256) -> dict[str, Any]:
    import torch

    from srl_agent.models.load import ModelSpec, load_policy
    from srl_agent.rollout import SamplingParams
    from srl_agent.rollout.launch import launch_server, stop_server
    from srl_agent.rollout.vllm import VLLMEngine
    from srl_agent.rollout.vllm_server import VLLMServerEngine

    torch.set_num_threads(1)
    model, tok = load_policy(ModelSpec(name=model_name, dtype="float32"))
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    vocab = len(tok)
    g = torch.Generator().manual_seed(0)
    # Random prompts of a fixed length: the work is the same for both engines whatever the tokenizer.
    prompt_ids = [torch.randint(3, vocab, (prompt_tokens,), generator=g).tolist() for _ in range(prompts)]
    params = SamplingParams(temperature=1.0, max_completion_tokens=max_tokens, ignore_eos=True)  # equal work
    result: dict[str, Any] = {"model": model_name, "dtype": dtype, "prompts": prompts, "samples_per_prompt": samples,
                              "prompt_tokens": prompt_tokens, "max_new_tokens": max_tokens, "repeats": repeats,
                              "device": "cuda" if torch.cuda.is_available() else "cpu", "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="srl-bench-rollout-") as tmp:
        model.save_pretrained(Path(tmp, "model"))
        tok.save_pretrained(Path(tmp, "model"))
        server, url = launch_server(str(Path(tmp, "model")), dtype=dtype, log=Path(tmp, "server.log"),
                                    max_model_len=prompt_tokens + max_tokens + 64)
        try:
            remote = VLLMServerEngine(model, tok, base_url=url, weights_dir=str(Path(tmp, "weights")))
            result["server"] = _measure(remote, model, prompt_ids, samples, params, repeats)
        finally:
            stop_server(server)
        local = VLLMEngine(model, tok, seed=0, max_model_len=prompt_tokens + max_tokens + 64, kv_cache_gib=0.25)
        result["in_process"] = _measure(local, model, prompt_ids, samples, params, repeats)
    return result
