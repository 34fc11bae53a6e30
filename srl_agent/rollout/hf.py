"""Rollouts with transformers `generate` on the live policy (CPU or GPU; nothing to sync: it *is* the policy).

Also owns `plain_generate`, the one way srl-agent calls transformers `generate` (here and in greedy evaluation): the
checkpoint's generation_config.json is not consulted, so only the settings passed are active.

The G samples of a prompt share its prefill: the prompt's KV cache is computed once and repeated G times before
decoding (`generate(num_return_sequences=G)` would run the prompt's forward G times). Sampling is unchanged:
the same batch layout (group-major), the same random draws, so the same tokens for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from srl_agent.rollout import Sample, SamplingParams


def unwrap(model: Any) -> Any:
    """The module under DDP/accelerate wrappers (generate is not forwarded through DistributedDataParallel)."""
    while hasattr(model, "module"):
        model = model.module
    return model


def base_model(model: Any) -> Any:
    """The plain transformers model under DDP/accelerate and peft wrappers (the object whose `generate` runs)."""
    model = unwrap(model)
    return model.get_base_model() if hasattr(model, "peft_config") else model


@contextmanager
def _checkpoint_defaults_off(model: Any) -> Iterator[None]:
    """transformers >= 5 fills every field the caller left unset from the model's generation_config (a Qwen2.5-Instruct
    checkpoint: repetition_penalty 1.05-1.1, top_k 20, top_p 0.8, temperature 0.7). Those would bias sampling away from
    softmax(logits / T), which the loss assumes, and turn greedy evaluation into penalised decoding; the penalty also
    hits prompt tokens an action must copy (paths, names). For the duration, the model carries transformers' plain
    defaults instead; the caller's config then decides everything."""
    from transformers import GenerationConfig

    target = base_model(model)
    saved = target.generation_config
    target.generation_config = GenerationConfig()
    try:
        yield
    finally:
        target.generation_config = saved


def plain_generate(model: Any, config: Any, **inputs: Any) -> Any:
    """`model.generate(**inputs, generation_config=config)` with none of the checkpoint's defaults (see above)."""
    import torch

    with torch.no_grad(), _checkpoint_defaults_off(model):
        return model.generate(**inputs, generation_config=config)


class HFEngine:
    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 64, share_prefill: bool = True):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size  # sequences per generate call
        self.share_prefill = share_prefill  # one prefill per prompt, not per sample
        self.on_batch: Callable[[int, int], None] | None = None  # progress after each call: (sequences done, total)
        self.eos_ids = _eos_ids(model, tokenizer)

    def sync_weights(self, model: Any) -> None:
        self.model = model

    def generate(self, prompts_ids: Sequence[Sequence[int]], n: int, params: SamplingParams, seed: int) -> list[list[Sample]]:
        import torch

        flat = [list(p) for p in prompts_ids for _ in range(n)]
        samples: list[Sample] = []
        model = unwrap(self.model)
        was_training = model.training
        model.eval()
        try:
            torch.manual_seed(seed)
            # Whole groups per call (the prefill is shared inside a call), about `batch_size` sequences each.
            step = max(1, self.batch_size // n) * n if self.share_prefill else self.batch_size
            for start in range(0, len(flat), step):
                samples += self._generate_batch(model, flat[start : start + step], params, n if self.share_prefill else 1)
                if self.on_batch is not None:
                    self.on_batch(len(samples), len(flat))
        finally:
            model.train(was_training)
        return [samples[i * n : (i + 1) * n] for i in range(len(prompts_ids))]

    @property
    def _pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]

    def _generate_batch(self, model: Any, prompts: list[list[int]], params: SamplingParams, n: int = 1) -> list[Sample]:
        """`prompts` holds each prompt n times in a row (group-major); with n > 1 each is prefilled once."""
        import torch
        from transformers import GenerationConfig

        device = next(model.parameters()).device
        width = max(len(p) for p in prompts)
        # Left padding: every prompt ends at the same column, so new tokens line up across the batch.
        input_ids = torch.tensor([[self._pad_id] * (width - len(p)) + p for p in prompts], device=device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        cache = prefill_once(model, input_ids[::n], attention_mask[::n], n) if n > 1 and width > 1 else None
        # Only temperature is active (plain_generate keeps the checkpoint's top_k/top_p/repetition_penalty out).
        config = GenerationConfig(
            do_sample=True,
            temperature=params.temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=params.max_completion_tokens,
            eos_token_id=None if params.ignore_eos else self.eos_ids,
            pad_token_id=self._pad_id,
            use_cache=True,
            return_dict_in_generate=True,
            output_scores=True,
        )
        out = plain_generate(model, config, input_ids=input_ids, attention_mask=attention_mask,
                             **({"past_key_values": cache} if cache is not None else {}))
        new_ids_B_T = out.sequences[:, width:]
        # The processed scores are what the tokens were drawn from: their log-softmax is the sampling distribution
        # itself. With temperature the only processor, that is log_softmax(logits / T), what the loss recomputes.
        scores_B_T_V = torch.stack(out.scores, dim=1).float()
        logprobs_B_T = torch.log_softmax(scores_B_T_V, dim=-1).gather(-1, new_ids_B_T.unsqueeze(-1)).squeeze(-1)
        samples = []
        eos = set() if params.ignore_eos else set(self.eos_ids)
        for prompt, ids, lps in zip(prompts, new_ids_B_T.tolist(), logprobs_B_T.tolist(), strict=True):
            end = next((t + 1 for t, tok in enumerate(ids) if tok in eos), len(ids))  # keep the EOS: stopping is learnt
            completion = tuple(ids[:end])
            samples.append(
                Sample(
                    prompt_ids=tuple(prompt),
                    completion_ids=completion,
                    logprobs=tuple(lps[:end]),
                    text=self.tokenizer.decode(completion, skip_special_tokens=True),
                    finished=end < len(ids) or (bool(ids) and ids[-1] in eos),
                )
            )
        return samples


def prefill_once(model: Any, input_ids_P_W: Any, attention_mask_P_W: Any, n: int) -> Any:
    """The KV cache of every prompt but its last token, computed once per prompt and repeated n times (group-major).

    `generate` then feeds only the uncached last column, whose logits give the first sampled token; the positions are
    the ones `generate` would give (left padding: cumsum of the mask - 1), so every cached key is the one it would
    have computed itself."""
    import torch
    from transformers import DynamicCache

    mask = attention_mask_P_W[:, :-1]
    position_ids = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        model(input_ids=input_ids_P_W[:, :-1], attention_mask=mask, position_ids=position_ids, past_key_values=cache,
              use_cache=True, logits_to_keep=1)
    cache.batch_repeat_interleave(n)
    return cache


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token that ends a turn: the tokenizer's EOS plus the model's generation_config EOS ids."""
    ids = []
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    configured = getattr(getattr(unwrap(model), "generation_config", None), "eos_token_id", None)
    for tok in configured if isinstance(configured, list) else [configured]:
        if tok is not None and tok not in ids:
            ids.append(tok)
    if not ids:
        raise ValueError("the tokenizer and the model define no EOS token; generation would never stop")
    return ids
