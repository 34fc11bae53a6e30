"""The SFT baseline (method=sft): whole expert trajectories in the eval prompt format, loss on assistant turns only."""

from __future__ import annotations

import json

import torch
from test_rlvr import saved_tiny

from srl_agent.agent.policies import scripted
from srl_agent.answer import encode_prompt
from srl_agent.cli import main
from srl_agent.data.instances import trajectory_instances
from srl_agent.data.prompts import PromptConfig, build_messages
from srl_agent.readers import read_trajectories
from srl_agent.train.config import resolve_config
from srl_agent.train.metrics import read_jsonl
from srl_agent.train.sft_method import turn_sequences
from srl_agent.train.tensors import pack

torch.set_num_threads(1)
TRAJ = "trajectories/swe_mini.jsonl"
FAST = ["history_window=1", "max_observation_chars=200", "max_prompt_tokens=1024", "progress=false", "micro_batch_size=16"]


def test_the_papers_table_6_is_the_default():
    cfg = resolve_config(method="sft")
    assert (cfg.method, cfg.lr, cfg.batch_size, cfg.lr_schedule, cfg.warmup_ratio, cfg.epochs) == ("sft", 5e-6, 64, "cosine", 0.3, 3)
    assert resolve_config(method="rlvr").batch_size == 128  # Table 7


def test_only_assistant_turns_are_trained_in_the_eval_prompt_format():
    from srl_agent.models.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = resolve_config(method="sft", overrides=["history_window=2"])
    traj = next(iter(read_trajectories([TRAJ])))
    seqs = turn_sequences(traj, tok, cfg)
    assert len(seqs) == len(traj.steps)
    window = PromptConfig(history_window=2, max_observation_chars=cfg.max_observation_chars)
    srl_prompts = [list(i.prompt) for i in trajectory_instances(traj, window)]
    for k, (seq, step) in enumerate(zip(seqs, traj.steps, strict=True)):
        messages = build_messages(traj.problem_statement, traj.steps[:k], window)  # what run_agent shows at turn k
        assert messages == srl_prompts[k]  # the same context SRL trains the step in
        assert list(seq.prompt_ids) == encode_prompt(tok, messages)
        batch = pack([seq], tok.pad_token_id)
        ids, mask = batch.input_ids_B_L[0].tolist(), batch.completion_mask_B_L[0].tolist()
        trained = [i for i, m in zip(ids, mask, strict=True) if m]
        # exactly the turn (thought + canonical action) and the EOS that ends it; nothing of system/issue/history
        assert tok.decode(trained[:-1]) == scripted(step.thought, step.action).text and trained[-1] == tok.eos_token_id
        assert sum(mask) == len(seq.completion_ids) and not any(mask[: len(seq.prompt_ids)])


def test_warm_start_sft_baseline_and_render_completion_write_the_same_bytes():
    """One answer format: the SRL warm start's target, the SFT baseline's turn and the scripted policies' completion
    (render_completion) are the same text and the same ids, and the reward parses it back."""
    import dataclasses

    from srl_agent.answer import THINK_CLOSE, THINK_OPEN, parse_completion, render_completion
    from srl_agent.models.tiny import tiny_tokenizer
    from srl_agent.reward import srl_reward
    from srl_agent.train.dataset import TrainPrompt
    from srl_agent.train.sft import sft_target_ids

    tok = tiny_tokenizer()
    cfg = resolve_config(method="sft", overrides=["history_window=1"])
    traj = next(iter(read_trajectories([TRAJ])))
    # The warm start writes cfg.sft_think as every thought: give the baseline's trajectory the same thoughts.
    traj = dataclasses.replace(traj, steps=tuple(dataclasses.replace(s, thought=cfg.sft_think) for s in traj.steps))
    baseline = turn_sequences(traj, tok, cfg)
    instances = list(trajectory_instances(traj, cfg.prompt))
    assert len(instances) == len(baseline) == len(traj.steps)
    for seq, inst, step in zip(baseline, instances, traj.steps, strict=True):
        warm = sft_target_ids(tok, TrainPrompt(inst, seq.prompt_ids), cfg.sft_think)
        text = render_completion(cfg.sft_think, step.action)
        assert text == f"{THINK_OPEN}\n{cfg.sft_think}\n{THINK_CLOSE}\n{inst.expert_action}"  # the one convention
        assert warm == seq.completion_ids  # byte for byte: same ids, EOS included
        assert seq.text == scripted(cfg.sft_think, step.action).text == text
        assert tok.decode(warm[:-1]) == text and warm[-1] == tok.eos_token_id
        assert parse_completion(text).action_text == inst.expert_action and srl_reward(text, inst.expert_action) == 1.0


def test_sft_lowers_the_loss_and_saves_a_checkpoint_like_srl(tmp_path):
    tiny = saved_tiny(tmp_path / "tiny")
    out = tmp_path / "sft"
    assert main(["train", "--method", "sft", "--init-from", str(tiny), "--trajectories", TRAJ, "--output", str(out),
                 *FAST, "epochs=2", "batch_size=6", "lr=3e-3", "save_every=2"]) == 0
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # 2 epochs x ceil(12 / 6)
    assert rows[0]["lr"] < rows[1]["lr"]  # warmup (0.3 of 4 steps = 1), then cosine
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["probe_loss_end"] < summary["probe_loss_start"] - 0.5
    assert (out / "checkpoints" / "step_000002" / "trainer_state.pt").is_file()
    assert len(json.loads((out / "training_instances.json").read_text())["instance_ids"]) == 12  # eval's overlap check
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out / "final")
    lora = tmp_path / "lora"
    assert main(["train", "--method", "sft", "--init-from", str(tiny), "--trajectories", TRAJ, "--output", str(lora),
                 *FAST, "--steps", "1", "epochs=0", "batch_size=2", "finetune=lora", "lora_r=4", "save_every=0"]) == 0
    merged = AutoModelForCausalLM.from_pretrained(lora / "final")
    assert not any("lora" in name for name in merged.state_dict())
