"""The terminal viewer driven by Textual's headless pilot: open, navigate, search, filter, jump to errors, help,
the policy-vs-expert diff of training samples, and a 1,000-step episode."""

from __future__ import annotations

import asyncio
import io
import time

from replaykit import EPISODES, SAMPLES, long_episode
from rich.console import Console, Group
from rich.table import Table

from srl_agent.episodes import write_episode
from srl_agent.replay.app import ReplayApp, Start
from srl_agent.replay.sources import default_experts, open_source
from srl_agent.replay.widgets import HelpScreen

SIZE = (160, 48)


def text(app: ReplayApp, selector: str, width: int = 150) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(app.query_one(selector).content)
    return console.file.getvalue()


def run(path, script, start: Start | None = None, experts=("trajectories/swe_mini.jsonl",)) -> None:
    """Open the viewer on `path` headless and run `await script(app, press)`."""

    async def main() -> None:
        app = ReplayApp(open_source(path, default_experts(list(experts))), start or Start())
        async with app.run_test(size=SIZE) as pilot:

            async def press(*keys: str) -> None:
                for key in keys:
                    await pilot.press(key)
                    await app.workers.wait_for_complete()
                    await pilot.pause()

            await pilot.pause()
            await script(app, press)

    asyncio.run(main())


def test_open_and_navigate_steps_and_episodes():
    async def script(app, press):
        assert "4 items" in text(app, "#title") and "swe-mini__argkit-1" in text(app, "#facts")
        assert "step 1/11" in text(app, "#body") and "OBSERVATION" in text(app, "#body")
        await press("l", "l", "right")
        assert app.step == 3 and "step 4/11" in text(app, "#body")
        await press("h")
        assert app.step == 2
        await press("G")
        assert "step 11/11" in text(app, "#body") and "diff --git" in text(app, "#body")
        await press("j")
        assert (app.item_index, app.step) == (1, 0) and "policy tiny" in text(app, "#facts")
        await press("down", "k")
        assert app.item_index == 1
        await press("i")
        assert "SUBMISSION" in text(app, "#body") and "episodes.jsonl:2" in text(app, "#body")
        await press("r")
        assert '"schema_version": 1' in text(app, "#body")

    run(EPISODES, script)


def test_jump_to_first_error_and_format_failure():
    async def script(app, press):
        await press("j", "e")  # the tiny policy's episode: its first problem is the malformed completion at step 2
        assert (app.item_index, app.step) == (1, 1)
        body = text(app, "#body")
        assert "format error" in body and "RAW COMPLETION" in body
        await press("e", "e")
        assert app.step == 6 and "timed out" in text(app, "#body")
        await press("E")
        assert app.step == 3
        await press("e", "e", "e")  # past the last problem here: on to the next episode with one
        assert app.item_index == 3 or "no further error" in text(app, "#title")

    run(EPISODES, script)


def test_search_moves_across_episodes_and_back():
    async def script(app, press):
        await press("slash")
        assert app.focused is not None and app.focused.id == "search"
        await press(*"tabletext", "enter")
        assert app.item_index == 3 and "tabletext" in text(app, "#body").lower()
        first = (app.item_index, app.step)
        await press("n")
        assert (app.item_index, app.step) > first
        await press("N")
        assert (app.item_index, app.step) == first
        await press("slash", *"zzz-no-match", "enter")
        assert "no further match" in text(app, "#title")
        assert (app.item_index, app.step) == first

    run(EPISODES, script)


def test_filters_resolved_unresolved_errors():
    async def script(app, press):
        await press("f")
        assert app.filter == "resolved" and app.list.rows == [0, 3]
        await press("f")
        assert app.filter == "unresolved" and app.list.rows == [1]
        assert app.item_index == 1
        await press("f")
        assert app.filter == "errors" and app.list.rows == [1, 2] and "filter errors: 2" in text(app, "#title")
        await press("j")
        assert app.item_index == 2 and "RepoError" in text(app, "#facts")
        await press("0")
        assert app.list.rows is None and app.item_index == 2

    run(EPISODES, script)


def test_help_screen_opens_and_closes():
    async def script(app, press):
        await press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "branch here" in str(app.screen.query_one("#help").content)
        await press("x")
        assert not isinstance(app.screen, HelpScreen)

    run(EPISODES, script)


def test_samples_show_policy_beside_expert_with_char_diff_and_reward():
    source = open_source(SAMPLES)
    target = next((i, s.index) for i in range(len(source)) for s in source.item(i).steps if 0 < (s.reward or 0) < 1)

    async def script(app, press):
        assert "samples" in text(app, "#title")
        body = text(app, "#body")
        assert "ACTION vs EXPERT" in body and "policy" in body and "expert" in body
        assert f"reward {source.item(target[0]).steps[target[1]].reward:.3f}" in body
        step = source.item(target[0]).steps[target[1]]
        groups = [r for r in app.query_one("#body").content.renderables if isinstance(r, Group)]
        table = next(r for g in groups for r in g.renderables if isinstance(r, Table))  # the side-by-side comparison
        left, right = (table.columns[c]._cells[0] for c in (0, 1))
        assert left.plain == step.action and right.plain == step.expert_action
        assert left.spans and right.spans  # the characters that differ are highlighted on both sides
        await press("d")
        assert "policy only" in text(app, "#body")  # inline diff

    run(SAMPLES, script, Start(*target))


def test_thousand_step_episode_opens_fast_and_reaches_the_last_step(tmp_path):
    path = tmp_path / "long.jsonl"
    episode = long_episode(1000)
    write_episode(path, episode)
    first_problem = next(t.index for t in episode.turns if t.format_error or t.info.get("exit_code") not in (0, None)
                         or t.info.get("timed_out"))

    async def script(app, press):
        assert "step 1/1000" in text(app, "#body")
        t0 = time.perf_counter()
        await press("end")
        assert "step 1000/1000" in text(app, "#body") and "1000/1000" in text(app, "#strip")
        await press("home", "e")
        assert app.step == first_problem
        assert time.perf_counter() - t0 < 5

    t0 = time.perf_counter()
    run(path, script)
    assert time.perf_counter() - t0 < 15  # start + three keys; measured ~1 s (docs/benchmarks.md)
