"""`srl-agent train` end to end on the tiny model: outputs, exact resume, final checkpoint, bad input."""

from __future__ import annotations

import json
import os

import pytest
import torch

from srl_agent.cli import main
from srl_agent.train.metrics import read_jsonl

torch.set_num_threads(1)

# Short prompts keep this fast: one past step, observations cut to 200 characters.
FAST = ["history_window=1", "max_observation_chars=200", "max_prompt_tokens=1024", "group_size=4", "batch_size=2",
        "micro_batch_size=8", "max_completion_tokens=128", "lr=1e-4", "progress=false", "max_sampling_rounds=2"]
TIMING = ("time_generate_s", "time_score_s", "time_train_s", "time_step_s", "tokens_per_s")


@pytest.fixture(scope="module")
def trajectories(traj_dir):
    return [str(traj_dir / "mini-swe-agent" / "tests_github_issue.traj.json"), str(traj_dir / "mini-swe-agent" / "tests_local.traj.json")]


@pytest.fixture(scope="module")
def warm_model(trajectories, tmp_path_factory):
    """The tiny model after a short SFT warm start: writes the format often enough for groups to survive filtering."""
    out = tmp_path_factory.mktemp("warm")
    args = ["train", "--trajectories", *trajectories, "--model", "tiny", "--output", str(out), "--steps", "1", *FAST,
            "sft_steps=100", "sft_lr=3e-3", "sft_batch_size=8", "save_every=0"]
    assert main(args) == 0
    return str(out / "final")


def _train(trajectories, model, out, *extra):
    return main(["train", "--trajectories", *trajectories, "--model", model, "--output", str(out), *FAST, *extra])


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_train_writes_metrics_samples_and_a_loadable_final_model(trajectories, warm_model, tmp_path):
    assert _train(trajectories, warm_model, tmp_path, "--steps", "2", "save_every=0") == 0
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward_mean", "reward_std", "format_error_rate", "filtered_fraction", "loss", "kl", "clip_fraction", "grad_norm",
                "lr", "tokens_per_s", "time_generate_s", "time_score_s", "time_train_s"):
        assert key in rows[0], key
    assert sum(r["prompts_kept"] for r in rows) > 0, "the warm model should produce some non-constant groups"
    samples = read_jsonl(tmp_path / "samples.jsonl")
    assert samples and {"prompt", "completion", "parsed_action", "expert_action", "reward"} <= set(samples[0])
    trained = json.loads((tmp_path / "training_instances.json").read_text())["instance_ids"]  # eval's overlap warning
    assert trained == ["tests_github_issue", "tests_local"]  # the two mini-swe-agent files (ids from their names)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "final")
    tok = AutoTokenizer.from_pretrained(tmp_path / "final")
    assert model.config.vocab_size == len(tok) and tok.padding_side == "left"


def test_resume_continues_exactly(trajectories, warm_model, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    assert _train(trajectories, warm_model, full, "--steps", "4", "save_every=2") == 0
    assert _train(trajectories, warm_model, part, "--steps", "2", "save_every=2") == 0
    assert _train(trajectories, warm_model, part, "--steps", "4", "save_every=2", "--resume") == 0
    a, b = _strip(read_jsonl(full / "metrics.jsonl")), _strip(read_jsonl(part / "metrics.jsonl"))
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert a == b  # same rewards, losses, grad norms, lr at steps 3 and 4
    assert read_jsonl(full / "samples.jsonl") == read_jsonl(part / "samples.jsonl")
    state = torch.load(part / "checkpoints" / "step_000002" / "trainer_state.pt", weights_only=False)
    assert {"optimizer", "scheduler", "sampler", "rng", "step"} <= set(state)


def test_lora_run_saves_a_merged_final_model(trajectories, warm_model, tmp_path):
    assert _train(trajectories, warm_model, tmp_path, "--steps", "1", "finetune=lora", "lora_r=4", "lr=1e-3") == 0
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "final")
    assert not any("lora" in name for name in model.state_dict())


def test_nonfinite_loss_stops_with_batch_and_checkpoint(trajectories, warm_model, tmp_path, capsys):
    # lr=1e30 makes the weights overflow after one update; the next step's loss is NaN.
    assert _train(trajectories, warm_model, tmp_path, "--steps", "6", "lr=1e30", "save_every=0", "batch_size=4") == 2
    err = capsys.readouterr().err
    assert "training stopped at step" in err and "--resume" in err
    assert list(tmp_path.glob("nonfinite_step_*.jsonl"))  # the step's batch (empty when sampling itself failed)
    assert list((tmp_path / "checkpoints").glob("step_*/trainer_state.pt"))


def test_empty_dataset_names_the_filter(trajectories, tmp_path, capsys):
    assert _train(trajectories, "tiny", tmp_path, "--steps", "1", "max_prompt_tokens=50") == 2
    err = capsys.readouterr().err
    assert "no training instances left" in err and "dropped by max_prompt_tokens=50" in err


def test_bad_input_errors(trajectories, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time: set it directly
    assert _train(trajectories, "no-such-org/no-such-model", tmp_path / "a", "--steps", "1") == 2
    assert "pass --model DIR" in capsys.readouterr().err
    assert _train(trajectories, "tiny", tmp_path / "b", "--steps", "1", "lrr=1") == 2
    assert "did you mean 'lr'" in capsys.readouterr().err
    assert main(["train", "--trajectories", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "c")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert _train(trajectories, "tiny", tmp_path / "d", "--steps", "1", "--resume") == 2
    assert "no complete checkpoint" in capsys.readouterr().err


def test_help_lists_train_and_stays_light():
    import subprocess
    import sys

    code = "import sys, srl_agent.cli as c; c.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, check=True)
    assert out.stdout.strip() == "False"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
