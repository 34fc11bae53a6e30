"""Textual widgets of the viewer: the virtual episode list (renders only the rows on screen) and the help screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.events import Click, Key
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from srl_agent.replay.render import header_row, summary_row
from srl_agent.replay.sources import Source
from srl_agent.trajectory import DataError


class EpisodeList(ScrollView, can_focus=False):
    """Rows of the (filtered) items. Line API: only visible rows are rendered, and rendering a row is what parses
    its record, so a 100 MB file costs one screenful of parsing to show."""

    DEFAULT_CSS = "EpisodeList { background: $surface; }"

    def __init__(self, source: Source, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.source = source
        self.rows: list[int] | None = None  # None: every item, in file order (no list of a million ints)
        self.cursor = 0

    def count(self) -> int:
        return len(self.source) if self.rows is None else len(self.rows)

    def item_at(self, pos: int) -> int:
        return pos if self.rows is None else self.rows[pos]

    def position_of(self, item: int) -> int | None:
        if self.rows is None:
            return item if 0 <= item < len(self.source) else None
        try:
            return self.rows.index(item)
        except ValueError:
            return None

    def set_rows(self, rows: list[int] | None) -> None:
        self.rows = rows
        self.cursor = min(self.cursor, max(0, self.count() - 1))
        self._update_virtual_size()
        self.refresh()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.size.width, self.count() + 1)  # + the header line

    def on_mount(self) -> None:
        self._update_virtual_size()

    def on_resize(self) -> None:
        self._update_virtual_size()

    def move_to(self, pos: int) -> None:
        self.cursor = max(0, min(pos, self.count() - 1))
        height = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:  # the column header stays put while the rows scroll under it
            return Strip(list(header_row(width).render(self.app.console))).extend_cell_length(width, self.rich_style)
        pos = int(self.scroll_y) + y - 1
        if pos >= self.count():
            return Strip.blank(width, self.rich_style)
        i = self.item_at(pos)
        try:
            text = summary_row(i, self.source.summary(i), width)
        except DataError as e:
            text = summary_row(i, None, width, error=str(e))
        if pos == self.cursor:
            text.stylize("reverse")
        text.truncate(width)
        return Strip(list(text.render(self.app.console)), text.cell_len).extend_cell_length(width, self.rich_style)

    def on_click(self, event: Click) -> None:
        pos = int(self.scroll_y) + event.y - 1
        if 0 <= pos < self.count():
            self.app.call_later(self.app.select_position, pos)  # type: ignore[attr-defined]


HELP = """\
[b]srl-agent replay[/b]: episodes, training samples and expert trajectories

[b]Move[/b]
  j / ↓ / L      next episode                 k / ↑ / H      previous episode
  l / → / space  next step                    h / ←          previous step
  g / home       first step                   G / end        last step
  PgDn / PgUp    scroll the step view         z              hide / show the list
[b]Find[/b]
  /              search text (smart case)     n / N          next / previous match
  e / E          next / previous error: format failure, timeout, failed command
  f              cycle the filter: all → resolved → unresolved → errors
  0 1 2 3        filter all / resolved / unresolved / errors
[b]Show[/b]
  d              diff: side by side ↔ inline  o              full texts (long ones are clipped)
  i              info: issue, submission, grade       r      raw JSON record
[b]Live[/b] (with --live)
  b              branch here: rebuild the sandbox, replay up to this step, then act yourself
[b]Other[/b]
  ?              this help                    q              quit

Samples (samples.jsonl): an item is one GRPO group (G completions of one prompt at one training step); its steps are
the completions, each beside the expert action with the characters that differ highlighted, and its reward.
Episodes: with the expert trajectory of the task (--expert, or the shipped swe-mini ones), step k is compared with
the expert's step k by position.

Press any key to close."""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: auto; max-width: 120; height: auto; padding: 1 2; border: round $accent;
                          background: $panel; }
    """
    def compose(self) -> ComposeResult:
        yield Static(Text.from_markup(HELP), id="help")

    def on_key(self, event: Key) -> None:
        event.stop()
        self.dismiss()
