"""Counterfactual live replay against real Docker sandboxes on swe-mini: rebuild, replay to step k, substitute the
action, and check the new observation, the repository diff and the SRL reward; then the same through the UI."""

from __future__ import annotations

import asyncio
import io

import pytest
from _docker_env import require_docker
from replaykit import EPISODES
from rich.console import Console

from srl_agent.errors import UserError
from srl_agent.replay.app import ReplayApp, Start
from srl_agent.replay.live import LiveSession, Policy
from srl_agent.replay.live_screen import LiveScreen
from srl_agent.replay.sources import default_experts, open_source
from srl_agent.reward import srl_reward

SWE_MINI = "trajectories/swe_mini.jsonl"
# The expert's fix for argkit-1 is `token.partition("=")`; this is a different, also correct, one.
COUNTERFACTUAL = ("<function=bash>\n<parameter=command>sed -i 's/token.split(\"=\")/token.split(\"=\", 1)/' "
                  "src/argkit/parser.py && PYTHONPATH=src python3 reproduce.py</parameter>\n</function>")

pytestmark = pytest.mark.docker


def test_branch_an_expert_trajectory_substitute_the_fix_and_grade():
    require_docker()
    source = open_source(SWE_MINI)
    item = source.item(source.find_instance("swe-mini__argkit-1"))
    session = LiveSession.open(item)
    try:
        session.start()
        replayed = session.replay_to(4)  # explore, view, write reproduce.py
        assert [s.origin for s in replayed] == ["replayed"] * 4 and session.k == 4
        assert not any(s.diverged for s in replayed[:2])  # same image, same output as when it was recorded
        assert replayed[3].repo_changed and "reproduce.py" in replayed[3].repo_diff
        step = session.execute(COUNTERFACTUAL)
        assert step.origin == "edited" and step.info["exit_code"] == 0
        assert step.observation.strip() == "status=open"  # the fix works: the value keeps its '='
        assert 'token.split("=", 1)' in step.repo_diff and step.repo_changed
        expert = item.steps[4].action
        assert step.expert_action == expert
        assert step.reward == pytest.approx(srl_reward(f"<think>x</think>\n{COUNTERFACTUAL}", expert))
        assert 0 < step.reward < 1
        with pytest.raises(UserError, match="cannot run this"):
            session.execute("<function=bash>no parameter</function>")
        proposal = Policy("tiny", max_tokens=16).propose(session.messages())  # --model tiny: a real (untrained) sample
        assert isinstance(proposal, str)
        verdict = session.grade()
        assert verdict.resolved, verdict.error
    finally:
        session.close()


def test_live_screen_replays_an_episode_and_runs_an_edited_action():
    require_docker()
    experts = default_experts([SWE_MINI])
    source = open_source(EPISODES, experts)

    def live(item, k):
        return LiveScreen(item, k, lambda it: LiveSession.open(it, None, experts))

    def text(widget) -> str:
        console = Console(width=150, file=io.StringIO(), color_system=None)
        console.print(widget.content)
        return console.file.getvalue()

    async def main() -> None:
        app = ReplayApp(source, Start(item=1, step=2), live)  # the tiny policy's episode, at step 3
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("b")
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, LiveScreen) and screen.session is not None
            title = text(screen.query_one("#live-title"))
            assert "replayed 2 steps" in title and "branch at step 3" in title
            assert [s.info.get("skipped") for s in screen.session.history] == [None, "format failure"]
            editor = screen.query_one("#editor")
            assert "grep -n" in editor.text  # the recorded action of step 3, ready to edit
            editor.text = COUNTERFACTUAL.replace(" && PYTHONPATH=src python3 reproduce.py", "")
            await pilot.press("ctrl+r")
            await app.workers.wait_for_complete()
            await pilot.pause()
            result = text(screen.query_one("#result"))
            assert "SRL REWARD vs EXPERT STEP 3" in result and "REPOSITORY DIFF" in result
            assert '+                name, inline = token.split("=", 1)' in result
            assert "edited" in text(screen.query_one("#timeline"))
            await pilot.press("escape")
            await app.workers.wait_for_complete()
            assert not isinstance(app.screen, LiveScreen)

    asyncio.run(main())


def test_real_eval_output_opens_and_exports(tmp_path):
    """`srl-agent eval` writes episodes.jsonl; the viewer and the page read it as written (expert policy, Docker)."""
    require_docker()
    from srl_agent.cli import main

    out = tmp_path / "eval"
    assert main(["eval", "--policy", "expert", "--trajectories", SWE_MINI, "--bench", "swe-mini", "--split", "train",
                 "--instances", "swe-mini__evictkit-1", "--output", str(out)]) == 0
    source = open_source(out / "episodes.jsonl", default_experts([SWE_MINI]))
    item = source.item(0)
    assert source.kind == "episodes" and item.summary.resolved is True and item.summary.reward == pytest.approx(1.0)
    assert all(s.action == s.expert_action for s in item.steps)  # the expert replayed: every step matches
    assert main(["replay", str(out / "episodes.jsonl"), "--html", str(tmp_path / "eval.html")]) == 0
    assert "swe-mini__evictkit-1" in (tmp_path / "eval.html").read_text()
