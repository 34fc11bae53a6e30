"""Search, error jumps and filters of the viewer (a mixin of ReplayApp). Each scans the file in a worker thread, so
a search through 100 MB (about half a second) never freezes the screen; results come back on the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import work
from textual.widgets import Input

from srl_agent.replay.sources import FILTERS, matches_filter
from srl_agent.trajectory import DataError


class Finding:
    """Needs the ReplayApp attributes: source, list, item_index, step, query, filter, status, mode, say, goto, show."""

    source: Any
    list: Any
    item_index: int
    step: int
    query: str
    filter: str
    status: str
    mode: str

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.disabled = False
        box.add_class("open")
        box.value = self.query
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._close_search()
        self.query = event.value
        if self.query:
            self.action_find(False)

    def on_key(self, event: object) -> None:
        box = self.query_one("#search", Input)
        if getattr(event, "key", "") == "escape" and box.has_class("open"):
            self._close_search()

    def _close_search(self) -> None:
        box = self.query_one("#search", Input)
        box.remove_class("open")
        box.disabled = True
        self.set_focus(None)

    def action_find(self, backward: bool) -> None:
        if not self.query:
            return self.action_search()
        self.say(f"searching {self.query!r} …")
        self._find(self.query, self.item_index, self.step, backward)

    @work(thread=True, exclusive=True, group="find")
    def _find(self, query: str, item: int, step: int, backward: bool) -> None:
        allowed = self._allowed()
        hit = self.source.find(query, item, step, allowed, backward)
        self.call_from_thread(self._found, hit, query, backward)

    def _found(self, hit: tuple[int, int] | None, query: str, backward: bool) -> None:
        if hit is None:
            return self.say(f"{query!r}: no {'earlier' if backward else 'further'} match")
        self.status = ""
        self.goto(*hit)

    def _allowed(self) -> Callable[[int], bool]:
        rows = None if self.list.rows is None else set(self.list.rows)
        return (lambda i: True) if rows is None else rows.__contains__

    def action_problem(self, direction: int) -> None:
        self.say("looking for an error …")
        self._problem(self.item_index, self.step, direction)

    @work(thread=True, exclusive=True, group="find")
    def _problem(self, item: int, step: int, direction: int) -> None:
        allowed = self._allowed()
        i, after = item, step
        while 0 <= i < len(self.source):
            if allowed(i):
                try:
                    steps = self.source.item(i).steps
                except DataError:
                    steps = ()
                order = range(len(steps)) if direction > 0 else range(len(steps) - 1, -1, -1)
                for k in order:
                    if steps[k].problem and (after is None or (k > after if direction > 0 else k < after)):
                        self.call_from_thread(self._found_problem, i, k)
                        return
            i, after = i + direction, None
        self.call_from_thread(self.say, "no further error or format failure")

    def _found_problem(self, item: int, step: int) -> None:
        self.status, self.mode = "", "step"
        self.goto(item, step)

    def action_cycle_filter(self) -> None:
        self.action_filter(FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)])

    def action_filter(self, name: str) -> None:
        self.filter = name
        if name == "all":
            self.list.set_rows(None)
            self.status = ""
            return self.goto(self.item_index, self.step) if self.list.count() else self.show()
        self.say(f"filtering {name} …")
        self._filter(name)

    @work(thread=True, exclusive=True, group="filter")
    def _filter(self, name: str) -> None:
        rows, n = [], len(self.source)
        for i, s in self.source.iter_summaries():
            if isinstance(s, DataError) and name == "errors" or not isinstance(s, DataError) and matches_filter(s, name):
                rows.append(i)
            if i % 2000 == 1999:
                self.call_from_thread(self.say, f"filtering {name} {100 * (i + 1) // n}%")
        self.call_from_thread(self._filtered, name, rows)

    def _filtered(self, name: str, rows: list[int]) -> None:
        if name != self.filter:
            return
        current = self.item_index
        self.list.set_rows(rows)
        self.status = ""
        pos = self.list.position_of(current)
        self.select_position(pos if pos is not None else 0, self.step if pos is not None else 0)
