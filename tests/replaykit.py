"""Fixtures of the replay tests, made by the real code paths (never hand-typed JSON).

tests/data/replay/episodes.jsonl — real episodes: completions driven through the real SWEEnv in Docker sandboxes on
swe-mini, graded by srl_agent.env.grading, written with srl_agent.episodes.write_episode. Regenerate (Docker, ~30 s):

    .venv/bin/python tests/replaykit.py episodes

tests/data/replay/samples.jsonl — the samples.jsonl of a real `srl-agent train` run of the tiny model (after a short SFT
warm start, so that some completions parse and score between 0 and 1). Regenerate (~2 min on 2 cores):

    .venv/bin/python tests/replaykit.py samples
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from srl_agent.actions import render_action
from srl_agent.episodes import Episode, Turn, write_episode
from srl_agent.reward import FormatError, parse_completion

DATA = Path(__file__).resolve().parent / "data" / "replay"
EPISODES = DATA / "episodes.jsonl"
SAMPLES = DATA / "samples.jsonl"
REPO = Path(__file__).resolve().parents[1]
FORMAT_FEEDBACK = "Your output was not in the required format ({error}). Write <think>…</think> and then exactly one function call."


def bash(command: str, thought: str) -> str:
    from srl_agent.actions import Bash

    return f"<think>{thought}</think>\n{render_action(Bash(command))}"


def record_episode(task, completions: list[str], factory, *, policy: str, max_turns: int = 30,
                   command_timeout: float = 120.0) -> Episode:
    """Drive `completions` through a real SWEEnv (one turn each), then grade the submission: an eval episode."""
    from srl_agent.env.grading import grade
    from srl_agent.env.swe_env import SWEEnv

    turns: list[Turn] = []
    start = time.perf_counter()
    stop, error, patch = "turn_limit", None, ""
    env = SWEEnv(task, factory, command_timeout=command_timeout)
    try:
        env.reset()
        for k, completion in enumerate(completions[:max_turns]):
            try:
                parsed = parse_completion(completion)
            except FormatError as e:
                turns.append(Turn(k, completion, "", None, FORMAT_FEEDBACK.format(error=e), format_error=str(e)))
                continue
            t0 = time.perf_counter()
            result = env.step(parsed.action)
            info = dict(result.info)
            turns.append(Turn(k, completion, parsed.thought, parsed.action_text, result.observation,
                              execute_s=round(time.perf_counter() - t0, 4), info=info))
            if result.done:
                stop, patch = "submitted", result.submission
                break
        else:
            patch = env.submission()
    except Exception as e:  # noqa: BLE001 - an infrastructure error is recorded in the episode, as eval does
        stop, error = "error", f"{type(e).__name__}: {e}"
    finally:
        env.close()
    resolved, report = None, {}
    if error is None:
        verdict = grade(task, patch, factory)
        resolved = verdict.resolved
        report = {"patch_applied": verdict.patch_applied, "apply_method": verdict.apply_method,
                  "tests": len(verdict.tests_status), "error": verdict.error}
    return Episode(task.instance_id, "swe-mini", policy, "end-to-end", tuple(turns), stop, patch, resolved, error,
                   round(time.perf_counter() - start, 3), report, {"recorded_by": "tests/replaykit.py"})


def expert_completions(instance_id: str) -> list[str]:
    from srl_agent.readers import read_trajectories

    traj = next(t for t in read_trajectories([REPO / "trajectories" / "swe_mini.jsonl"]) if t.instance_id == instance_id)
    return [f"<think>{s.thought}</think>\n{render_action(s.action)}" for s in traj.steps]


def record_fixture_episodes(path: Path = EPISODES) -> list[Episode]:
    from srl_agent import swe_mini

    tasks = {t.instance_id: t for t in swe_mini.load("all")}
    factory = swe_mini.sandbox_factory()
    tiny = [json.loads(line)["completion"] for line in SAMPLES.read_text().splitlines()[:3]]  # real malformed outputs
    wrong_fix = (
        "<think>The parser splits on '=' twice; maybe rstrip fixes it.</think>\n<function=str_replace_editor>\n"
        "<parameter=command>str_replace</parameter>\n<parameter=path>/testbed/src/argkit/parser.py</parameter>\n"
        "<parameter=old_str>token.split(\"=\")</parameter>\n<parameter=new_str>token.rstrip(\"=\").split(\"=\")</parameter>\n"
        "</function>")
    episodes = [
        record_episode(tasks["swe-mini__argkit-1"], expert_completions("swe-mini__argkit-1"), factory, policy="expert"),
        record_episode(tasks["swe-mini__argkit-1"], [
            bash("ls", "Look at the repository."), tiny[0],
            bash("grep -n 'split(\"=\")' src/argkit/parser.py", "Find where options are split."),
            tiny[1], wrong_fix, bash("python3 -m pytest -q tests 2>&1 | tail -3", "Run the tests."),
            bash("sleep 5", "Wait for nothing (times out)."), "<think>done</think>\n<function=submit>\n</function>",
        ], factory, policy="tiny", command_timeout=2.0),
        record_episode(dataclasses.replace(tasks["swe-mini__datewise-3"], base_commit="0" * 40),
                       [bash("ls", "start")], factory, policy="tiny"),
        record_episode(tasks["swe-mini__tabletext-1"], expert_completions("swe-mini__tabletext-1"), factory,
                       policy="expert"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    for ep in episodes:
        write_episode(path, ep)
    return episodes


def fixture_episodes() -> list[Episode]:
    from srl_agent.episodes import read_episodes

    return list(read_episodes(EPISODES))


def long_episode(n: int) -> Episode:
    """An n-turn episode made of the fixture's real turns, repeated and renumbered (the scale tests)."""
    turns = [t for ep in fixture_episodes() for t in ep.turns]
    longer = tuple(dataclasses.replace(turns[k % len(turns)], index=k) for k in range(n))
    return dataclasses.replace(fixture_episodes()[1], turns=longer, metadata={"built_by": "tests/replaykit.py long_episode"})


def train_samples(out: Path, warm: bool) -> Path:
    """Run the real trainer on the tiny model; `warm` adds the SFT warm start that makes some completions parse."""
    from srl_agent.cli import main

    traj = REPO.parent / "shared" / "data" / "trajectories" / "mini-swe-agent"
    files = [str(traj / "tests_github_issue.traj.json")] + ([str(traj / "tests_local.traj.json")] if warm else [])
    config = {"history_window": 1, "max_observation_chars": 200, "max_prompt_tokens": 1024, "group_size": 4,
              "batch_size": 2, "micro_batch_size": 8, "max_completion_tokens": 48, "progress": "false",
              "max_sampling_rounds": 1, "dynamic_sampling": "false", "save_every": 0}
    if warm:
        config.update(group_size=6, micro_batch_size=12, max_completion_tokens=64, sft_steps=90, sft_lr=3e-3,
                      sft_batch_size=8, samples_per_step=12)
    args = ["train", "--trajectories", *files, "--model", "tiny", "--output", str(out), "--steps", "3" if warm else "1",
            *(f"{k}={v}" for k, v in config.items())]
    assert main(args) == 0
    return out / "samples.jsonl"


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "episodes":
        for ep in record_fixture_episodes():
            print(ep.instance_id, ep.policy, ep.stop_reason, ep.resolved, len(ep.turns), ep.error)
    elif what == "samples":
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(train_samples(Path(tmp), warm=True), SAMPLES)
    else:
        sys.exit("usage: replaykit.py episodes|samples")
