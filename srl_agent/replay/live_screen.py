"""The live (counterfactual) screen of the viewer: `b` on a step, with `srl-agent replay PATH --live`."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from srl_agent.errors import UserError
from srl_agent.replay.live import LiveSession, LiveStep, Policy
from srl_agent.replay.model import Item, StepView
from srl_agent.replay.render import PROBLEM, clip, comparison, patch_text, section

Opener = Callable[[Item], LiveSession]


class LiveScreen(Screen[None]):
    """Replays `item` up to step `k` in a fresh sandbox, then lets the user run any action at k, and on."""

    CSS = """
    #live-title { height: 1; background: $warning-darken-2; color: $text; padding: 0 1; }
    #timeline-scroll { width: 44; border-right: solid $primary-darken-2; }
    #hint { height: 1; color: $text-muted; padding: 0 1; }
    #editor { height: 10; }
    #result { padding: 0 1; }
    """
    BINDINGS = [
        Binding("ctrl+r", "run", "run action", priority=True),
        Binding("ctrl+n", "recorded", "recorded action", priority=True),
        Binding("ctrl+p", "ask", "ask policy", priority=True),
        Binding("ctrl+g", "grade", "grade repo", priority=True),
        Binding("escape", "leave", "back", priority=True),
    ]

    def __init__(self, item: Item, k: int, opener: Opener, policy: Callable[[], Policy] | None = None) -> None:
        super().__init__()
        self.item, self.k, self.opener, self.policy_loader = item, k, opener, policy
        self.session: LiveSession | None = None
        self.state = "starting the sandbox …"
        self.busy = True
        self._policy: Policy | None = None
        self._proposed: str | None = None  # the last policy completion: run unchanged, its step is "policy"

    def compose(self) -> ComposeResult:
        yield Static(id="live-title")
        with Horizontal():
            with VerticalScroll(id="timeline-scroll"):
                yield Static(id="timeline")
            with Vertical():
                yield Static("ctrl+r run · ctrl+n recorded action · ctrl+p ask the policy · ctrl+g grade · esc back",
                             id="hint")
                yield TextArea("", id="editor", soft_wrap=True, show_line_numbers=False)
                with VerticalScroll(id="out"):
                    yield Static(id="result")
        yield Footer()

    def on_mount(self) -> None:
        self.draw()
        self._start()

    # -- drawing --------------------------------------------------------------------------------------------------

    def draw(self, result: RenderableType | None = None) -> None:
        s = self.session
        where = f"branch at step {self.k + 1}" + (f" · now at step {s.k + 1}" if s else "")
        title = f"LIVE · {self.item.summary.instance_id} · {where} · {self.state}"
        self.query_one("#live-title", Static).update(Text(title))
        self.query_one("#timeline", Static).update(self.timeline())
        if result is not None:
            self.query_one("#result", Static).update(result)
            self.query_one("#out", VerticalScroll).scroll_home(animate=False)

    def timeline(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")  # one line per step, cut at the pane's edge
        for st in self.session.history if self.session else []:
            color = {"replayed": "grey62", "edited": "bold yellow", "policy": "bold magenta"}[st.origin]
            out.append(f"{st.index + 1:>4} {st.origin:<8} ", style=color)
            if st.reward is not None:
                out.append(f"r={st.reward:.2f} ")
            out.append(("Δrepo " if st.repo_changed else "") + ("≠rec " if st.diverged else "") + _short(st.action))
            out.append("\n")
        if self.session and not self.session.done:
            out.append(f"{self.session.k + 1:>4} ▶ next", style="reverse")
        return out

    def render_step(self, st: LiveStep) -> RenderableType:
        head = Text(f"step {st.index + 1} · {st.origin} · {st.info.get('action', '')}", style="bold")
        if "exit_code" in st.info:
            head.append(f" · exit {st.info['exit_code']}")
        head.append(" · repository changed" if st.repo_changed else " · repository unchanged", style="grey62")
        parts: list[RenderableType] = [head]
        if st.expert_action is not None:
            view = StepView(st.index, st.thought, st.action, st.observation, expert_action=st.expert_action)
            parts += [section(f"SRL REWARD vs EXPERT STEP {st.index + 1}"), comparison(view, st.reward, True)]
        else:
            parts += [Text("no expert action for this step (episodes: pass --expert FILE with the task's trajectory)",
                           style="grey50")]
        if st.diverged:
            parts += [section("RECORDED OBSERVATION (differs)", "bold yellow"), clip(st.recorded_observation or "", False)]
        parts += [section("OBSERVATION", "bold green"), clip(st.observation, False)]
        parts += [section("REPOSITORY DIFF (git diff against the base commit)", "bold green"),
                  patch_text(st.repo_diff) if st.repo_diff else Text("(no changes)", style="grey50")]
        return Group(*parts)

    def ready(self, message: str) -> None:
        self.busy = False
        s = self.session
        assert s is not None
        self.state = "done (submitted)" if s.done else message
        self.query_one("#editor", TextArea).text = (s.recorded_action() or "") if not s.done else ""
        expert = s.expert_action()
        hint = Text(f"step {s.k + 1}: the editor holds the recorded action; edit it or ask the policy, then ctrl+r.\n")
        if expert:
            hint.append(f"\nexpert action at step {s.k + 1}:\n", style="bold")
            hint.append(expert)
        last = s.history[-1] if s.history else None
        self.draw(Group(hint, self.render_step(last)) if last and last.origin != "replayed" else hint)
        self.query_one("#editor", TextArea).focus()

    def fail(self, error: BaseException) -> None:
        self.busy = False
        self.state = "error"
        self.draw(Text(f"{type(error).__name__}: {error}" if not isinstance(error, UserError) else str(error),
                       style=PROBLEM))

    # -- work (threads: every sandbox call blocks) ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="live")
    def _start(self) -> None:
        try:
            self.session = self.opener(self.item)
            self.app.call_from_thread(self._set_state, "rebuilding the sandbox …")
            self.session.start()
            self.session.replay_to(self.k, lambda n: self.app.call_from_thread(self._set_state, f"replayed {n}/{self.k}"))
            diverged = sum(s.diverged for s in self.session.history)
            self.app.call_from_thread(self.ready, f"replayed {self.session.k} steps ({diverged} observations differ)")
        except Exception as e:  # noqa: BLE001 - shown on screen; the viewer stays usable
            self.app.call_from_thread(self.fail, e)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.draw()

    def _begin(self, what: str) -> bool:
        if self.busy or self.session is None:
            return False
        self.busy = True
        self._set_state(what)
        return True

    def action_run(self) -> None:
        if self._begin("running …"):
            self._run(self.query_one("#editor", TextArea).text)

    @work(thread=True, exclusive=True, group="live")
    def _run(self, text: str) -> None:
        assert self.session is not None
        origin = "policy" if self._proposed == text else "edited"
        try:
            step = self.session.execute(text, origin)
        except Exception as e:  # noqa: BLE001
            return self.app.call_from_thread(self.fail_keep, e)
        self.app.call_from_thread(self.ready, f"ran step {step.index + 1}")

    def fail_keep(self, error: BaseException) -> None:
        self.fail(error)
        self.busy = False

    def action_recorded(self) -> None:
        if self.session is not None:
            self.query_one("#editor", TextArea).text = self.session.recorded_action() or ""

    def action_ask(self) -> None:
        if self.policy_loader is None:
            self.draw(Text("no policy: start with --model tiny|PATH", style=PROBLEM))
        elif self._begin("asking the policy …"):
            self._ask()

    @work(thread=True, exclusive=True, group="live")
    def _ask(self) -> None:
        assert self.session is not None and self.policy_loader is not None
        try:
            policy = self._policy = self._policy or self.policy_loader()
            completion = policy.propose(self.session.messages())
        except Exception as e:  # noqa: BLE001
            return self.app.call_from_thread(self.fail, e)
        self._proposed = completion
        self.app.call_from_thread(self._proposal, completion)

    def _proposal(self, completion: str) -> None:
        self.busy = False
        self.state = "policy proposal in the editor: ctrl+r runs it"
        self.query_one("#editor", TextArea).text = completion
        self.draw()

    def action_grade(self) -> None:
        if self._begin("grading the repository in a fresh sandbox …"):
            self._grade()

    @work(thread=True, exclusive=True, group="live")
    def _grade(self) -> None:
        assert self.session is not None
        result = self.session.grade()
        verdict = Text(f"resolved: {'yes' if result.resolved else 'no'}", style="bold green" if result.resolved else PROBLEM)
        if result.error:
            verdict.append(f"   ({result.error})")
        tests = Text("".join(f"{status:<8} {name}\n" for name, status in sorted(result.tests_status.items())))
        self.app.call_from_thread(self._graded, Group(verdict, tests))

    def _graded(self, body: RenderableType) -> None:
        self.busy = False
        self.state = "graded"
        self.draw(body)

    def on_unmount(self) -> None:
        # Quitting the app from here (q, ctrl+c) must not leave the container running.
        session, self.session = self.session, None
        if session is not None:
            session.close()

    def action_leave(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self.app.run_worker(session.close, thread=True, group="close")
        self.app.pop_screen()


def _short(action: str) -> str:
    """One line for the timeline: the tool and its first parameter."""
    lines = [ln for ln in action.splitlines() if ln.strip()]
    if not lines:
        return "(format failure)"
    tool = lines[0].removeprefix("<function=").removesuffix(">")
    arg = lines[1].split(">", 1)[-1].removesuffix("</parameter>") if len(lines) > 1 else ""
    return f"{tool} {arg}"[:28]
