"""Rollout engines: one interface, three engines (transformers `generate`, in-process vLLM, a vLLM server).

Both return, per prompt, G `Sample`s holding the exact sampled token ids and their log-probabilities under the
sampling distribution. The trainer computes its loss on these ids; it never decodes and re-encodes a completion
(re-tokenisation drift silently changes which tokens get the gradient). The decoded text is for the reward only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled completion of one prompt."""

    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]  # includes the EOS token when the model stopped by itself
    logprobs: tuple[float, ...]  # log p(completion_ids[t] | prompt, completion_ids[:t]) at the sampling temperature
    text: str  # completion decoded without special tokens: what the reward reads
    finished: bool  # stopped at EOS (False: cut at max_completion_tokens)


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 1.0
    max_completion_tokens: int = 512
    # Never stop at EOS: exactly max_completion_tokens tokens per sample (speed benchmarks compare equal work).
    ignore_eos: bool = False


class RolloutEngine(Protocol):
    def generate(self, prompts_ids: Sequence[Sequence[int]], n: int, params: SamplingParams, seed: int) -> list[list[Sample]]:
        """`n` samples per prompt, outer list in prompt order."""
        ...

    def sync_weights(self, model: Any) -> None:
        """Make the engine sample from `model`'s current weights (called after every optimizer step)."""
        ...


ENGINES = ("hf", "vllm", "vllm-server")


def make_engine(name: str, model: Any, tokenizer: Any, **options: Any) -> RolloutEngine:
    """"hf": transformers generate on the live policy; "vllm": an in-process vLLM engine fed the policy's weights;
    "vllm-server": a vLLM server process fed the policy's weights through a shared directory."""
    if name == "hf":
        from srl_agent.rollout.hf import HFEngine

        return HFEngine(model, tokenizer, batch_size=options.get("generation_batch_size", 64),
                        share_prefill=options.get("share_prefill", True))
    if name == "vllm":
        from srl_agent.rollout.vllm import VLLMEngine

        return VLLMEngine(model, tokenizer, **options)
    if name == "vllm-server":
        from srl_agent.rollout.vllm_server import VLLMServerEngine

        return VLLMServerEngine(model, tokenizer, **options)
    raise ValueError(f"unknown rollout engine {name!r}; choose one of {ENGINES}")
