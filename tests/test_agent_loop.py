"""The agent loop on a real git repository in a real sandbox (the local one: no Docker needed), with real policies:
stop reasons, the prompt format, format-error recovery, batching across threads, and the tiny model end to end."""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
import threading
import time
from collections.abc import Sequence

import pytest
from envkit import build_repo, calc_task

from srl_agent.actions import Bash, Submit, render_action
from srl_agent.agent import (
    AgentConfig,
    Batcher,
    Completion,
    EmptyPolicy,
    GoldPolicy,
    ModelPolicy,
    PolicyRequest,
    run_agent,
)
from srl_agent.agent.policies import ExpertPolicy, scripted
from srl_agent.answer import format_error_message
from srl_agent.data.prompts import PromptConfig, build_messages
from srl_agent.env import SWEEnv, Task, grade
from srl_agent.reward import parse_completion
from srl_agent.trajectory import Step, Trajectory


@pytest.fixture
def world(tmp_path):
    """(task, factory, repo_dir): each factory call is a fresh LocalSandbox holding the calc repo at its base."""
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.local import LocalSandbox

    repo_dir = str(tmp_path / "testbed")
    lock = threading.Lock()  # one repo path on the host: sandboxes of concurrent episodes take turns building it

    def factory(task: Task):
        sb = LocalSandbox(SandboxConfig())
        with lock:
            sb.run(f"rm -rf {shlex.quote(repo_dir)} {shlex.quote(posixpath.dirname(repo_dir))}/calc-remote.git")
            built = build_repo(sb, repo_dir)
        factory.base = built.base
        return sb

    factory(calc_task("0" * 40)).close()
    return calc_task(factory.base), factory, repo_dir


class Replies:
    """A policy that answers with given texts in turn and records every prompt it was shown."""

    name, batched = "replies", False

    def __init__(self, *texts: str):
        self.texts, self.prompts = list(texts), []

    def count_prompt_tokens(self, messages):
        return sum(len(m["content"]) for m in messages)  # characters: enough to test the limit

    def complete(self, requests: Sequence[PolicyRequest]) -> list[Completion]:
        self.prompts += [r.messages for r in requests]
        return [Completion(self.texts.pop(0)) for _ in requests]


def bash(command: str, thought: str = "look") -> str:
    return scripted(thought, Bash(command)).text


def test_turns_are_prompted_in_the_training_format_and_submit_stops(world):
    task, factory, repo_dir = world
    policy = Replies(bash("echo hello"), bash("cat calc/__init__.py"), scripted("done", Submit()).text)
    env = SWEEnv(task, factory, repo_dir=repo_dir)
    result = run_agent(task, env, policy, AgentConfig(prompt=PromptConfig(history_window=1)))
    assert result.stop_reason == "submitted" and result.error is None and [t.index for t in result.turns] == [0, 1, 2]
    assert result.turns[0].observation.strip() == "hello" and result.turns[0].thought == "look"
    assert result.turns[0].action == render_action(Bash("echo hello")) and result.submission == ""
    # Every prompt is exactly build_messages(issue, own steps), windowed like training (history 1 here).
    steps = [Step("look", Bash("echo hello"), result.turns[0].observation),
             Step("look", Bash("cat calc/__init__.py"), result.turns[1].observation)]
    for i, prompt in enumerate(policy.prompts):
        assert prompt == build_messages(task.problem_statement, steps[:i], PromptConfig(history_window=1))
    assert "return a - b" in policy.prompts[2][-1]["content"]
    assert result.start_s > 0 and result.agent_s > 0 and all(t.execute_s > 0 for t in result.turns)


def test_format_errors_are_shown_then_stop_after_n_in_a_row(world):
    task, factory, repo_dir = world
    policy = Replies("no think tags", bash("true"), "<think>x</think> not an action", "", "<think>", "never used")
    result = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), policy, AgentConfig(max_format_errors=3))
    assert result.stop_reason == "format_errors" and len(result.turns) == 5
    first = result.turns[0]
    assert first.action is None and first.format_error and first.observation == format_error_message(first.format_error)
    # The next prompt shows the raw output and the error message, so the policy can correct itself.
    assert "no think tags" in policy.prompts[1][-2]["content"] and policy.prompts[1][-1]["content"] == first.observation
    assert result.turns[1].format_error is None  # a good turn resets the count: 3 more were needed
    assert [t.format_error is not None for t in result.turns] == [True, False, True, True, True]


def test_turn_and_context_limits(world):
    task, factory, repo_dir = world
    long = Replies(*[bash("echo " + "x" * 300)] * 10)
    result = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), long, AgentConfig(max_turns=3))
    assert result.stop_reason == "turn_limit" and len(result.turns) == 3
    base = sum(len(m["content"]) for m in build_messages(task.problem_statement, []))
    limited = Replies(*[bash("echo " + "x" * 300)] * 10)
    result = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), limited, AgentConfig(max_prompt_tokens=base + 400))
    assert result.stop_reason == "context_limit" and len(result.turns) == 1  # turn 2's prompt carries turn 1's pair


def test_stop_without_submit_still_takes_the_diff(world):
    task, factory, repo_dir = world
    edit = bash("sed -i 's/return a - b/return a + b/' calc/__init__.py && git diff --stat")
    result = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), Replies(edit), AgentConfig(max_turns=1))
    assert result.stop_reason == "turn_limit" and "+    return a + b" in result.submission


def test_environment_failure_is_an_error_episode(world):
    task, factory, repo_dir = world

    def broken(task):
        raise RuntimeError("no container for you")

    result = run_agent(task, SWEEnv(task, broken, repo_dir=repo_dir), GoldPolicy())
    assert result.stop_reason == "error" and "no container for you" in result.error and "Traceback" in result.error_detail
    missing = calc_task("f" * 40)  # the base commit does not exist: reset fails inside the sandbox
    result = run_agent(missing, SWEEnv(missing, factory, repo_dir=repo_dir), GoldPolicy())
    assert result.stop_reason == "error" and result.turns == ()


def test_gold_and_empty_policies_and_grading(world):
    task, factory, repo_dir = world
    gold = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), GoldPolicy())
    assert gold.stop_reason == "submitted" and len(gold.turns) == 2 and gold.submission.strip()
    assert grade(task, gold.submission, factory, repo_dir=repo_dir).resolved
    empty = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), EmptyPolicy())
    assert empty.stop_reason == "submitted" and empty.submission == "" and len(empty.turns) == 1


def test_expert_policy_replays_then_submits(world):
    task, factory, repo_dir = world
    steps = (Step("see <think>it</think>", Bash("grep -n 'a - b' calc/__init__.py"), ""),
             Step("fix", Bash("sed -i '2s/a - b/(a + b)/' calc/__init__.py"), ""))
    expert = ExpertPolicy({task.instance_id: Trajectory(task.instance_id, task.problem_statement, steps, "test")})
    result = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), expert)
    assert [t.format_error for t in result.turns] == [None] * 3 and result.turns[0].thought == "see it"
    assert result.stop_reason == "submitted" and grade(task, result.submission, factory, repo_dir=repo_dir).resolved


def test_same_second_same_size_edit_is_submitted(world):
    task, factory, repo_dir = world
    with SWEEnv(task, factory, repo_dir=repo_dir) as env:
        env.reset()
        # Index entry written and file rewritten in place (git apply keeps the inode) within one second, same size.
        time.sleep(1.05 - time.time() % 1)
        env.sandbox.run(f"cd {repo_dir} && touch calc/__init__.py && git update-index -q --refresh")
        env.step(parse_completion(GoldPolicy().turn(task, 0).text).action)
        time.sleep(1.1)
        assert "+    return a + b" in env.submission()


def test_batcher_batches_concurrent_episodes():
    class Counting:
        name, batched = "counting", True

        def __init__(self):
            self.calls = []

        def count_prompt_tokens(self, messages):
            return None

        def complete(self, requests):
            self.calls.append(len(requests))
            return [Completion(f"turn {r.turn} of {r.task.instance_id}") for r in requests]

    inner = Counting()
    batcher = Batcher(inner, max_wait_s=5.0)  # long: a batch must close because everyone waits, not on time
    tasks = [dataclasses.replace(calc_task("0" * 40), instance_id=f"t{i}") for i in range(4)]
    out: dict[str, list[str]] = {}
    start = threading.Barrier(4)

    def episode(task):
        with batcher.episode():
            start.wait()
            out[task.instance_id] = [batcher.complete([PolicyRequest(task, t, [])])[0].text for t in range(3)]

    threads = [threading.Thread(target=episode, args=(t,)) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert out == {t.instance_id: [f"turn {i} of {t.instance_id}" for i in range(3)] for t in tasks}
    assert inner.calls == [4, 4, 4] and batcher.batch_sizes == [4, 4, 4]


def test_batcher_passes_policy_failures_to_every_waiting_episode():
    class Failing:
        name, batched = "failing", True

        def count_prompt_tokens(self, messages):
            return None

        def complete(self, requests):
            raise MemoryError("out of memory")

    with pytest.raises(MemoryError):
        Batcher(Failing()).complete([PolicyRequest(calc_task("0" * 40), 0, [])])


@pytest.fixture(scope="module")
def tiny():
    return ModelPolicy.load("tiny", max_new_tokens=24)


def test_tiny_model_runs_greedy_and_batched(world, tiny):
    task, factory, repo_dir = world
    result = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), tiny, AgentConfig(max_turns=2))
    assert result.stop_reason in ("turn_limit", "format_errors", "submitted") and len(result.turns) >= 1
    turn = result.turns[0]
    assert turn.prompt_tokens == tiny.count_prompt_tokens(build_messages(task.problem_statement, []))
    assert 0 < turn.completion_tokens <= 24 and turn.generate_s > 0
    # Greedy is deterministic, and a batch of identical prompts gives identical completions.
    request = PolicyRequest(task, 0, build_messages(task.problem_statement, []))
    first, second = tiny.complete([request, request])
    assert first == second == tiny.complete([request])[0]
    sampled = ModelPolicy("tiny", tiny.model, tiny.tokenizer, temperature=1.0, max_new_tokens=8)  # the HF engine
    assert all(0 < c.completion_tokens <= 8 and c.prompt_tokens == first.prompt_tokens
               for c in sampled.complete([request, request]))
    limited = run_agent(task, SWEEnv(task, factory, repo_dir=repo_dir), tiny, AgentConfig(max_prompt_tokens=10))
    assert limited.stop_reason == "context_limit" and limited.turns == ()
