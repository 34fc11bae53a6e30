"""The terminal viewer: `srl-agent replay PATH`. A virtual episode list on the left, the current item's step on the
right (thought, action, observation; for samples the policy's action beside the expert's, characters that differ
highlighted, and the reward). Keys on `?`. Heavy work (filtering every record, searching) runs in worker threads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from srl_agent.replay.finding import Finding
from srl_agent.replay.jsonl_source import JsonlSource
from srl_agent.replay.model import Item, StepView, step_reward
from srl_agent.replay.render import PROBLEM, clip, info_body, step_body, strip_cells, visible
from srl_agent.replay.sources import Source
from srl_agent.replay.widgets import EpisodeList, HelpScreen
from srl_agent.trajectory import DataError

LiveFactory = Callable[[Item, int], Screen]


@dataclass(frozen=True, slots=True)
class Start:
    """Where the viewer opens: an item (index or instance id) and a 0-based step."""

    item: int = 0
    step: int = 0
    branch: bool = False  # open the live screen at once (--live --episode)


class Body(VerticalScroll, can_focus=False):
    """The step view; not focusable so every key reaches the app's bindings (the mouse still scrolls it)."""


class ReplayApp(Finding, App[None]):
    TITLE = "srl-agent replay"
    ENABLE_COMMAND_PALETTE = False  # ctrl+p asks the policy in the live screen
    CSS = """
    #title { height: 1; background: $primary; color: $text; padding: 0 1; }
    #left { width: 64; border-right: solid $primary-darken-2; }
    #left.hidden { display: none; }
    #facts { height: auto; max-height: 4; padding: 0 1; background: $boost; }
    #strip { height: 1; padding: 0 1; }
    #body { padding: 0 1; }
    #search { dock: bottom; display: none; }
    #search.open { display: block; }
    """
    BINDINGS = [
        Binding("question_mark", "help", "help"),
        Binding("j,down,L", "item(1)", "next episode", show=False),  # H/L: mini-swe-agent's inspector keys
        Binding("k,up,H", "item(-1)", "prev episode", show=False),
        Binding("l,right,space", "step(1)", "next step", show=False),
        Binding("h,left", "step(-1)", "prev step", show=False),
        Binding("g,home", "step_to(0)", "first step", show=False),
        Binding("G,end", "step_to(-1)", "last step", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("slash", "search", "search"),
        Binding("n", "find(False)", "next match", show=False),
        Binding("N", "find(True)", "prev match", show=False),
        Binding("e", "problem(1)", "next error"),
        Binding("E", "problem(-1)", "prev error", show=False),
        Binding("f", "cycle_filter", "filter"),
        Binding("0", "filter('all')", show=False),
        Binding("1", "filter('resolved')", show=False),
        Binding("2", "filter('unresolved')", show=False),
        Binding("3", "filter('errors')", show=False),
        Binding("d", "toggle('side_by_side')", "diff style"),
        Binding("o", "toggle('full')", show=False),
        Binding("i", "mode('info')", "info"),
        Binding("r", "mode('raw')", show=False),
        Binding("z", "toggle_list", show=False),
        Binding("b", "branch", "branch (live)"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, source: Source, start: Start | None = None, live: LiveFactory | None = None) -> None:
        super().__init__()
        start = start or Start()
        self.source, self.live = source, live
        self.item_index, self.step, self._branch = start.item, start.step, start.branch
        self.filter, self.query, self.mode = "all", "", "step"
        self.side_by_side, self.full = True, False
        self.status = ""
        self._rewards: dict[tuple[int, int], float | None] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Horizontal():
            with Vertical(id="left"):
                yield EpisodeList(self.source, id="list")
            with Vertical():
                yield Static(id="facts")
                yield Static(id="strip")
                with Body(id="scroll"):
                    yield Static(id="body")
        # Disabled while closed: otherwise it takes the focus at start and swallows every key.
        yield Input(placeholder="search (smart case); enter: find, escape: cancel", id="search", disabled=True)
        yield Footer()

    @property
    def list(self) -> EpisodeList:
        return self.query_one(EpisodeList)

    def on_mount(self) -> None:
        self.list.move_to(self.item_index)
        self.show()
        if self._branch:
            self.action_branch()

    def on_resize(self) -> None:
        self.show()

    # -- drawing --------------------------------------------------------------------------------------------------

    def show(self) -> None:
        """Redraw the title and the detail pane for (item_index, step, mode)."""
        n, shown = len(self.source), self.list.count()
        title = f"srl-agent replay · {self.source.path.name} · {self.source.kind} · {n:,} items"
        if self.filter != "all":
            title += f" · filter {self.filter}: {shown:,}"
        if self.query:
            title += f" · /{self.query}"
        if self.status:
            title += f" · {self.status}"
        self.query_one("#title", Static).update(Text(title))
        facts, strip, body = (self.query_one(f"#{w}", Static) for w in ("facts", "strip", "body"))
        if shown == 0:
            facts.update(Text("no item matches the filter (0 shows all)", style=PROBLEM))
            strip.update(""), body.update("")
            return
        try:
            item = self.source.item(self.item_index)
        except DataError as e:
            facts.update(Text(str(e), style=PROBLEM))
            strip.update(""), body.update("")
            return
        head = Text(visible(item.summary.instance_id), style="bold")
        head.append(visible("   " + " · ".join(f"{k} {v}" for k, v in item.facts if k != "error")), style="grey70")
        error = dict(item.facts).get("error")
        if error:
            head.append(visible(f"\nerror: {error}"), style=PROBLEM)
        facts.update(head)
        if not item.steps:
            strip.update(Text("no steps", style="grey50"))
            body.update(info_body(item, self.full))
            return
        self.step = max(0, min(self.step, len(item.steps) - 1))
        strip.update(strip_cells(item, self.step, strip.size.width or 80))
        if self.mode == "info":
            body.update(info_body(item, self.full))
        elif self.mode == "raw":
            body.update(clip(self.raw_text(), self.full))
        else:
            step = item.steps[self.step]
            body.update(step_body(item, step, reward=self.reward(item, step), side_by_side=self.side_by_side,
                                  full=self.full))

    def reward(self, item: Item, step: StepView) -> float | None:
        """The recorded reward, else the SRL reward of the policy's completion against the aligned expert action."""
        key = (self.item_index, step.index)
        if key not in self._rewards:  # difflib on long edits takes tens of ms: once per step
            self._rewards[key] = step_reward(step)
        return self._rewards[key]

    def raw_text(self) -> str:
        if not isinstance(self.source, JsonlSource):
            return "(raw records are shown for JSONL inputs; this file was read whole by the trajectory readers)"
        records = self.source._records(self.item_index)  # noqa: SLF001 - same package
        rows = [json.loads(self.source.index.record(r)) for r in records]
        return json.dumps(rows[0] if len(rows) == 1 else rows, indent=2, ensure_ascii=False)

    def select_position(self, pos: int, step: int = 0) -> None:
        if self.list.count() == 0:
            return self.show()
        self.list.move_to(pos)
        self.item_index, self.step = self.list.item_at(self.list.cursor), step
        self.query_one(Body).scroll_home(animate=False)
        self.show()

    def goto(self, item: int, step: int) -> None:
        pos = self.list.position_of(item)
        if pos is not None:
            self.select_position(pos, step)

    def say(self, status: str) -> None:
        self.status = status
        self.show()

    # -- actions --------------------------------------------------------------------------------------------------

    def action_item(self, delta: int) -> None:
        self.status = ""
        self.select_position(self.list.cursor + delta)

    def action_step(self, delta: int) -> None:
        self.step += delta
        self.status, self.mode = "", "step"
        self.query_one(Body).scroll_home(animate=False)
        self.show()

    def action_step_to(self, where: int) -> None:
        self.step = where if where >= 0 else 1 << 30  # show() clamps to the last step
        self.mode = "step"
        self.show()

    def action_page(self, direction: int) -> None:
        body = self.query_one(Body)
        body.scroll_page_down(animate=False) if direction > 0 else body.scroll_page_up(animate=False)

    def action_toggle(self, name: str) -> None:
        setattr(self, name, not getattr(self, name))
        self.show()

    def action_mode(self, mode: str) -> None:
        self.mode = "step" if self.mode == mode else mode
        self.show()

    def action_toggle_list(self) -> None:
        self.query_one("#left").toggle_class("hidden")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_branch(self) -> None:
        if self.live is None:
            return self.say("live branching needs --live (a Docker sandbox per branch)")
        try:
            item = self.source.item(self.item_index)
        except DataError as e:
            return self.say(str(e))
        self.push_screen(self.live(item, self.step))
