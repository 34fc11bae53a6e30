"""RLVR (method=rlvr) and the SRL->RLVR curriculum: outcome/masking/filter rules, a real RLVR step on real Docker
episodes with a tiny real model, and `--init-from` an SRL checkpoint."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from _docker_env import require_docker

from srl_agent.actions import Edit, Submit, render_action
from srl_agent.cli import main
from srl_agent.env.grading import Fault, GradeResult
from srl_agent.rollout import Sample
from srl_agent.train.config import resolve_config
from srl_agent.train.grpo import minibatches
from srl_agent.train.rlvr import Rollout, outcome
from srl_agent.train.sources import Group, Member, keep_group

torch.set_num_threads(1)
TASK = "swe-mini__tabletext-1"
FIX = Edit("str_replace", "/testbed/tabletext/numbers.py", old_str='"^(\\d', new_str='"^[+-]?(\\d')
SMALL = ["history_window=0", "max_observation_chars=200", "max_prompt_tokens=1500", "progress=false"]


def _Grade(resolved: bool, error: str | None = None, fault: Fault = Fault.NONE) -> GradeResult:
    return GradeResult(TASK, resolved, True, None, error=error, fault=fault)


def test_outcome_masks_infrastructure_and_applies_the_overlong_policy():
    assert outcome("SandboxError: image missing", "error", "", None, "grade") == ("infra", None)
    assert outcome(None, "submitted", "", None, "grade") == ("ok", 0.0)  # empty patch: nothing to grade
    assert outcome(None, "submitted", "diff", _Grade(True), "grade") == ("ok", 1.0)
    assert outcome(None, "submitted", "diff", _Grade(False, "patch did not apply", Fault.PATCH_DID_NOT_APPLY), "grade") == ("ok", 0.0)
    assert outcome(None, "submitted", "diff", _Grade(False, "tests timed out after 5 s", Fault.TESTS_TIMED_OUT), "grade") == ("ok", 0.0)
    assert outcome(None, "submitted", "diff", _Grade(False, "sandbox start failed: X", Fault.INFRA), "grade") == ("infra", None)
    assert outcome(None, "turn_limit", "diff", _Grade(True), "grade") == ("ok", 1.0)
    assert outcome(None, "turn_limit", "diff", None, "zero") == ("ok", 0.0)
    assert outcome(None, "context_limit", "diff", None, "mask") == ("overlong", None)


def test_dapo_filter_and_per_episode_weights_skip_masked_rollouts():
    assert not keep_group([0.0, 0.0, 0.0], True) and not keep_group([1.0, 1.0], True)
    assert keep_group([1.0, 0.0, 0.0], True) and not keep_group([1.0], True)  # one valid episode: nothing to compare
    assert keep_group([0.0, 0.0], False)
    turn = lambda n: Sample((1, 2), tuple(range(n)), (0.0,) * n, "", True)  # noqa: E731
    rollouts = (Rollout("t", (turn(2), turn(6)), "ok", 1.0, "submitted"),
                Rollout("t", (turn(4),), "ok", 0.0, "submitted"),
                Rollout("t", (turn(9),), "infra", None, "error"))
    g = Group("t", (), tuple(Member(r.turns, r.reward, r) for r in rollouts), kept=True)
    cfg = resolve_config(method="rlvr", overrides=["max_turns=4", "max_completion_tokens=8"])
    (mini,) = minibatches([g], cfg, cfg.max_completion_tokens * cfg.max_turns)
    assert len(mini) == 3  # the infra episode's turn is not trained
    advantages = [a for _, a, _ in mini]
    assert advantages[0] == advantages[1] > 0 > advantages[2]  # both turns carry their episode's advantage
    # grpo aggregation per episode: each episode's tokens sum to 1/#episodes, whatever its number of turns
    per_token = [w * len(s.completion_ids) for s, _, w in mini]
    assert per_token[0] + per_token[1] == pytest.approx(0.5) and per_token[2] == pytest.approx(0.5)


def _trajectory(task, steps, resolved):
    from srl_agent.expert.prompts import SYSTEM_PROMPT, user_prompt

    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt(task.problem_statement)}]
    for thought, action in steps:
        messages.append({"role": "assistant", "content": f"{thought}\n\n{render_action(action)}"})
        messages.append({"role": "user", "content": "OBSERVATION:\nok"})
    row = {"instance_id": task.instance_id, "patch": "", "messages": messages[:-1]}
    return row | ({"resolved": resolved} if resolved is not None else {})


def saved_tiny(path: Path) -> Path:
    """The random-init tiny model saved to disk. Runs start from it (--init-from), not from `--model tiny`: a saved
    tiny tokenizer reloads as Qwen2's (another pre-tokenizer), so a model trained with the in-memory one would be
    evaluated on other token ids."""
    from srl_agent.models.load import ModelSpec, load_policy

    model, tokenizer = load_policy(ModelSpec())
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def coin_model(tmp_path_factory):
    """The tiny model taught (SFT) two first turns for TASK, equally often: fix the bug, or submit at once. Its
    episodes resolve about half the time, so a group of 4 is usually mixed and survives DAPO filtering."""
    from srl_agent import swe_mini

    task = next(t for t in swe_mini.load("train") if t.instance_id == TASK)
    out = tmp_path_factory.mktemp("coin")
    rows = [_trajectory(task, [("Fix the regex.", FIX)], True),
            _trajectory(task, [("Give up.", Submit())], None)]
    (out / "traj.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["train", "--method", "sft", "--init-from", str(saved_tiny(out / "tiny")), "--trajectories", str(out / "traj.jsonl"), "--output",
                 str(out / "run"), *SMALL, "steps=200", "epochs=0", "batch_size=2", "lr=3e-3", "lr_schedule=constant",
                 "warmup_ratio=0", "micro_batch_size=8", "save_every=0"]) == 0
    return task, out / "run"


class Recording:
    """The real rollout engine, keeping every sample it returned (to compare with what is trained on)."""

    def __init__(self, engine):
        self.engine, self.samples = engine, []

    def generate(self, prompts_ids, n, params, seed):
        out = self.engine.generate(prompts_ids, n, params, seed)
        self.samples += [s for group in out for s in group]
        return out

    def sync_weights(self, model):
        self.engine.sync_weights(model)


@pytest.mark.docker
def test_rlvr_step_on_real_episodes_masks_infra_filters_and_trains_on_the_sampled_ids(coin_model, tmp_path):
    require_docker()
    from srl_agent.answer import encode_prompt
    from srl_agent.data.prompts import PromptConfig, build_messages
    from srl_agent.swe_mini.images import ensure_images
    from srl_agent.tasksets import load_bench, sandbox_factory
    from srl_agent.train.dataset import PromptSampler
    from srl_agent.train.grpo import grpo_step
    from srl_agent.train.runs import make_rollout_engine, start_run, with_init_from
    from srl_agent.train.sources import RLVRSource
    from srl_agent.train.tensors import pack

    task, run_dir = coin_model
    ensure_images([TASK])
    # A tasks file (as `srl-agent env mine` writes): the real task, and a copy whose image does not exist anywhere.
    missing = dataclasses.replace(task, instance_id="missing-image", image="srl-agent/no-such-image:latest")
    bench = tmp_path / "tasks.jsonl"
    bench.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in (task, missing)))
    tasks, factory = load_bench(str(bench)), sandbox_factory(str(bench))
    cfg = with_init_from(resolve_config(method="rlvr", init_from=str(run_dir), overrides=[
        *SMALL, "group_size=4", "batch_size=2", "max_sampling_rounds=1", "max_turns=2", "max_completion_tokens=96",
        "workers=4", "lr=1e-3", "micro_batch_size=4", "command_timeout_s=30", "grade_timeout_s=120"]))
    run = start_run(cfg, tmp_path / "run", False, total_updates=3)
    engine = Recording(make_rollout_engine(run))
    source = RLVRSource(cfg, engine, run.tokenizer, tasks, factory)
    sampler = PromptSampler(len(tasks), cfg.seed)
    for step in range(3):  # each episode resolves ~1/3 of the time: a group of 4 is mixed with p ~ 0.75
        out = grpo_step(run, source, sampler, engine, step)
        metrics, groups, minis = out.metrics, out.groups, out.minis
        by_id = {g.item.instance_id: [m.detail for m in g.members_G] for g in groups}
        assert metrics["episodes"] == 8 and metrics["episodes_infra_failed"] == 4 and metrics["tasks_all_masked"] == 1
        assert metrics["infra_failure_rate"] == 0.5
        broken = by_id["missing-image"]
        assert all(r.status == "infra" and r.reward is None and "no-such-image" in r.error for r in broken)
        real = by_id[TASK]
        assert all(r.status == "ok" and r.reward in (0.0, 1.0) for r in real)  # graded: resolved or not
        assert metrics["reward_mean"] == sum(r.reward for r in real) / 4  # infra episodes are not counted as 0
        if minis:
            break
    assert minis, "no mixed group in 3 steps (each episode of the coin model resolves ~1/3 of the time)"
    assert metrics["tasks_kept"] == 1 and 0 < sum(r.reward for r in real) < 4 and metrics["grad_norm"] > 0
    # Token in / token out: every trained sequence is a turn exactly as the engine sampled it (same ids, same
    # logprobs), its prompt is the agent loop's prompt for that turn, and the packed tensor holds those ids.
    sampled = {(s.prompt_ids, s.completion_ids, s.logprobs) for s in engine.samples}
    trained = [s for mini in minis for s, _, _ in mini]
    assert len(trained) == sum(len(r.turns) for r in real)
    first_prompt = encode_prompt(run.tokenizer, build_messages(task.problem_statement, [], PromptConfig(history_window=0)))
    for r in real:
        assert r.turns[0].prompt_ids == tuple(first_prompt)
    for s in trained:
        assert (s.prompt_ids, s.completion_ids, s.logprobs) in sampled
        row = pack([s], run.tokenizer.pad_token_id).input_ids_B_L[0].tolist()
        assert row == list(s.prompt_ids) + list(s.completion_ids)
    resolved = [r for r in real if r.reward == 1.0]
    assert any("str_replace" in t.text for r in resolved for t in r.turns)


def test_init_from_loads_an_srl_checkpoint(tmp_path):
    from transformers import AutoModelForCausalLM

    from srl_agent.train.runs import resolve_init_from, start_run, with_init_from

    srl = tmp_path / "srl"
    assert main(["train", "--method", "srl", "--init-from", str(saved_tiny(tmp_path / "tiny")), "--output", str(srl),
                 "--trajectories", "trajectories/sample.jsonl", "--steps", "1", *SMALL, "history_window=1",
                 "max_prompt_tokens=1024", "group_size=2", "batch_size=1", "max_completion_tokens=16", "lr=1e-2",
                 "sft_steps=2", "sft_lr=1e-2", "save_every=1"]) == 0
    step = srl / "checkpoints" / "step_000001"
    assert resolve_init_from(srl) == str(srl / "final") and resolve_init_from(step) == str(step / "model")
    cfg = with_init_from(resolve_config(method="rlvr", config_file="srl_agent/configs/srl_to_rlvr.toml",
                                        init_from=str(srl)))
    assert (cfg.method, cfg.model, cfg.batch_size, cfg.lr) == ("rlvr", str(srl / "final"), 128, 5e-7)
    run = start_run(cfg, tmp_path / "rlvr", False, total_updates=1)
    expected = AutoModelForCausalLM.from_pretrained(srl / "final").state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in run.model.state_dict().items())
    assert json.loads((tmp_path / "rlvr" / "config.json").read_text())["init_from"] == str(srl)
    with pytest.raises(Exception, match="no model weights"):
        resolve_init_from(tmp_path)
