"""The training core's seams: config views, instance files (prompt settings, Parquet), one fill loop over a real
tiny-model source, the start-up notes, and the replay viewer rescoring with the run's reward mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srl_agent.errors import UserError
from srl_agent.train.config import REPO_ROOT, resolve_config

torch.set_num_threads(1)
SAMPLE = str(REPO_ROOT / "trajectories" / "sample.jsonl")


def test_config_views_carry_the_keys():
    cfg = resolve_config(method="rlvr", overrides=["history_window=1", "max_observation_chars=300", "max_turns=7",
                                                   "max_prompt_tokens=999", "finetune=lora", "lora_r=4", "engine=hf"])
    assert (cfg.prompt.history_window, cfg.prompt.max_observation_chars) == (1, 300)
    assert (cfg.agent.max_turns, cfg.agent.max_prompt_tokens, cfg.agent.prompt) == (7, 999, cfg.prompt)
    assert (cfg.model_spec.finetune, cfg.model_spec.lora_r, cfg.model_spec.name) == ("lora", 4, "tiny")
    assert cfg.engine_options == {"generation_batch_size": cfg.generation_batch_size, "share_prefill": cfg.shared_prompt}
    assert (cfg.sampling.temperature, cfg.sampling.max_completion_tokens) == (cfg.temperature, cfg.max_completion_tokens)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_instance_files_train_and_their_prompt_settings_are_checked(tmp_path, suffix):
    from srl_agent.cli import main
    from srl_agent.train.dataset import load_instances

    out = tmp_path / f"inst{suffix}"
    assert main(["data", "convert", SAMPLE, "-o", str(out), "--history", "1", "--max-observation-chars", "200"]) == 0
    cfg = resolve_config(overrides=["history_window=1", "max_observation_chars=200"])
    instances, report = load_instances([str(out)], cfg)
    assert len(instances) == report.instances > 0 and report.read == 0  # read as instances, not as trajectories
    assert {(i.history_window, i.max_observation_chars) for i in instances} == {(1, 200)}
    with pytest.raises(UserError, match=r"converted with history_window=1 but this run has history_window=2"):
        load_instances([str(out)], resolve_config(overrides=["max_observation_chars=200"]))


def test_one_fill_loop_over_a_real_tiny_model(tmp_path):
    from srl_agent.models.load import ModelSpec, load_policy
    from srl_agent.rollout import make_engine
    from srl_agent.train.dataset import PromptSampler, load_instances, tokenize_instances
    from srl_agent.train.sources import SRLSource, fill

    cfg = resolve_config(overrides=["history_window=1", "max_observation_chars=200", "max_prompt_tokens=850",
                                    "group_size=2", "batch_size=2", "max_completion_tokens=8", "max_sampling_rounds=2"])
    model, tok = load_policy(ModelSpec())
    instances, report = load_instances([SAMPLE], cfg)
    prompts = tokenize_instances(instances, tok, cfg, report)
    notes: list[str] = []
    source = SRLSource(cfg, make_engine("hf", model, tok), prompts)
    groups, metrics = fill(source, PromptSampler(len(prompts), 0), cfg, 0, cfg.batch_size, 0, notes.append)
    # A random-init model never writes the format: every reward is the penalty, every group is filtered, and the loop
    # stops after max_sampling_rounds rounds, having said what it was doing.
    assert metrics["sampling_rounds"] == 2 and metrics["prompts_sampled"] == 4 == len(groups)
    assert metrics["prompts_kept"] == 0 and metrics["filtered_fraction"] == 1.0 and metrics["reward_mean"] == -1.0
    assert all(len(g.members_G) == 2 and g.prompt_ids == g.item.prompt_ids for g in groups)
    assert all(m.sequences[0].prompt_ids == g.prompt_ids for g in groups for m in g.members_G)
    assert notes[0].startswith("round 1/2") and any(n.startswith("sampling ") for n in notes)


def test_start_up_notes_for_a_batch_larger_than_the_data_and_gpu_sizes_on_cpu(capsys):
    from accelerate import Accelerator

    from srl_agent.train.loop import check_sizes
    from srl_agent.train.runs import Run

    cfg = resolve_config()  # the paper's settings: batch_size 512
    run = Run(cfg, Path("."), Accelerator(cpu=True), None, None, None, None, None, 0)
    check_sizes(run, 137, "instances", "512 prompts x G=8", heavy=not torch.cuda.is_available())
    err = capsys.readouterr().err
    assert "batch_size=512 exceeds the 137 instances available" in err and "repeat within a step" in err
    if not torch.cuda.is_available():
        assert "srl_agent/configs/tiny_cpu.toml" in err
    rlvr = Run(resolve_config(method="rlvr"), Path("."), Accelerator(cpu=True), None, None, None, None, None, 0)
    check_sizes(rlvr, 12, "tasks", "128 tasks x G=8", heavy=not torch.cuda.is_available())
    err = capsys.readouterr().err
    assert "batch_size=128 exceeds the 12 tasks available" in err
    if not torch.cuda.is_available():
        assert "srl_agent/configs/tiny_cpu_rlvr.toml" in err
        assert (REPO_ROOT / "srl_agent" / "configs" / "tiny_cpu_rlvr.toml").is_file()


def test_replay_rescores_samples_with_the_runs_reward_mode():
    from srl_agent.replay.model import from_samples, step_reward
    from srl_agent.reward import srl_reward

    expert = "<function=bash>\n<parameter=command>grep -rn 'def parse' /testbed</parameter>\n</function>"
    completion = "<think>look</think>\n<function=bash>\n<parameter=command>grep -n  \"def parse\" /testbed</parameter>\n</function>"
    row = {"step": 1, "instance_id": "x", "step_index": 0, "completion": completion, "expert_action": expert,
           "reward_mode": "action", "format_penalty": -0.5}
    (step,) = from_samples([row], "samples.jsonl:1").steps
    assert step_reward(step) == srl_reward(completion, expert, mode="action") != srl_reward(completion, expert)
    (bad,) = from_samples([{**row, "completion": "no format"}], "samples.jsonl:1").steps
    assert step_reward(bad) == -0.5
