"""Rich renderables for the terminal viewer: the step view, the policy-vs-expert diff, the info view, list rows."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from srl_agent.replay.model import Item, StepView, Summary, reward_text
from srl_agent.replay.textdiff import char_diff

MAX_CHARS = 20_000  # per text block; `o` shows everything (a 1 MB observation takes seconds to lay out)
DEL, INS = "bold #ffffff on #8b1a1a", "bold #000000 on #5fd75f"
PROBLEM = "bold #ff5f5f"


# Control characters (an escape sequence in an observation, a NUL in a sampled completion) would drive the terminal:
# show them as their Unicode control pictures instead. Carriage returns are dropped (CRLF output).
_VISIBLE = {c: 0x2400 + c for c in range(32) if c not in (9, 10, 13)} | {13: None, 0x7F: 0x2421}


def visible(text: str) -> str:
    return text.translate(_VISIBLE)


def clip(text: str, full: bool) -> Text:
    text = visible(text)
    if full or len(text) <= MAX_CHARS:
        return Text(text)
    out = Text(text[: MAX_CHARS // 2])
    out.append(f"\n[… {len(text) - MAX_CHARS:,} characters hidden: press o to show all …]\n", style="reverse")
    out.append(text[-MAX_CHARS // 2 :])
    return out


def section(title: str, style: str = "bold cyan") -> Rule:
    return Rule(Text(title, style=style), align="left", style="grey37")


def diff_texts(pred: str, expert: str) -> tuple[Text, Text, Text]:
    """(policy side, expert side, inline) with the characters that differ highlighted."""
    left, right, inline = Text(), Text(), Text()
    for tag, a, b in char_diff(visible(pred), visible(expert)):
        if tag == "equal":
            left.append(a), right.append(b), inline.append(a)
            continue
        if a:
            left.append(a, style=DEL)
            inline.append(a, style=DEL + " strike")
        if b:
            right.append(b, style=INS)
            inline.append(b, style=INS)
    return left, right, inline


def comparison(step: StepView, reward: float | None, side_by_side: bool) -> RenderableType:
    """The policy's action beside the expert's, characters that differ highlighted, and the SRL reward."""
    pred = step.action if step.action is not None else (step.completion or "")
    left, right, inline = diff_texts(pred, step.expert_action or "")
    title = Text.assemble(("reward ", "bold"), (reward_text(reward), _reward_style(reward)))
    if step.action is None:
        title.append(f"   format error: {step.format_error}", style=PROBLEM)
    if not side_by_side:
        legend = Text.assemble(("policy only", DEL), "  ", ("expert only", INS))
        return Group(title, legend, inline)
    table = Table(expand=True, show_lines=False, box=None, padding=(0, 1))
    table.add_column("policy" + (" (raw completion)" if step.action is None else ""), ratio=1, style="")
    table.add_column("expert", ratio=1)
    table.add_row(left, right)
    return Group(title, table)


def _reward_style(reward: float | None) -> str:
    if reward is None:
        return "dim"
    return "bold red" if reward < 0 else ("bold green" if reward >= 0.8 else "bold yellow")


def step_body(item: Item, step: StepView, *, reward: float | None, side_by_side: bool, full: bool) -> RenderableType:
    parts: list[RenderableType] = []
    facts = [f"{k} {v}" for k, v in step.facts]
    head = Text(f"step {step.index + 1}/{len(item.steps)}", style="bold")
    if facts:
        head.append("   " + " · ".join(facts), style="grey62")
    if step.problem:
        head.append(f"   {step.problem}", style=PROBLEM)
    parts.append(head)
    if step.thought:
        parts += [section("THOUGHT"), clip(step.thought, full)]
    if step.expert_action is not None:
        label = "ACTION vs EXPERT" if item.kind == "samples" else f"ACTION vs EXPERT STEP {step.index + 1} (by position)"
        parts += [section(label), comparison(step, reward, side_by_side)]
    else:
        parts.append(section("ACTION"))
        parts.append(Text(visible(step.action)) if step.action is not None else Text(f"(none) format error: {step.format_error}", style=PROBLEM))
    if step.completion is not None and (step.action is None or item.kind == "samples"):
        parts += [section("RAW COMPLETION", "bold magenta"), clip(step.completion, full)]
    parts += [section(step.observation_label.upper(), "bold green"), clip(step.observation, full)]
    return Group(*parts)


def info_body(item: Item, full: bool) -> RenderableType:
    """The whole item: facts, issue, submission."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("source", item.origin)
    for k, v in item.facts:
        facts.add_row(k, visible(v))
    parts: list[RenderableType] = [facts]
    if item.problem_statement:
        parts += [section("ISSUE"), clip(item.problem_statement, full)]
    if item.submission:
        parts += [section("SUBMISSION", "bold green"), patch_text(item.submission)]
    return Group(*parts)


def patch_text(patch: str) -> Text:
    out = Text()
    for line in visible(patch).splitlines(keepends=True):
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else ""
        out.append(line, style=style)
    return out


def strip_cells(item: Item, current: int, width: int) -> Text:
    """One cell per step around the current one: green ok, red format failure, yellow other problem."""
    n = len(item.steps)
    width = max(10, width - 16)
    start = min(max(0, current - width // 2), max(0, n - width))
    out = Text(f"{current + 1:>5}/{n:<5} ", style="bold")
    out.append("◀" if start > 0 else " ", style="grey50")
    for k in range(start, min(n, start + width)):
        s = item.steps[k]
        color = "#d75f5f" if s.format_error else "#d7af00" if s.problem else "#5faf5f"
        out.append("◆" if k == current else "▮", style=f"bold {color} on #3a3a5a" if k == current else color)
    out.append("▶" if start + width < n else " ", style="grey50")
    return out


def summary_row(i: int, s: Summary | None, width: int, error: str | None = None) -> Text:
    if error is not None:
        return Text(f"{i + 1:>6} ! {error}"[:width], style=PROBLEM)
    if s is None:
        return Text(f"{i + 1:>6} …", style="grey50")
    resolved = {True: ("✓", "green"), False: ("✗", "red"), None: ("·", "grey50")}[s.resolved]
    name_w = max(8, width - 42)
    name = s.instance_id if len(s.instance_id) <= name_w else s.instance_id[: name_w - 1] + "…"
    row = Text(f"{i + 1:>6} {name:<{name_w}} ")
    row.append(f"{s.status[:13]:<13} ", style=PROBLEM if s.failed else "")
    row.append(resolved[0], style=resolved[1])
    reward = ("≈" if s.reward_estimated and s.reward is not None else "") + reward_text(s.reward)
    row.append(f" {s.steps:>5} {reward:>6}")
    if s.problems:
        row.append(f" !{s.problems}", style=PROBLEM)
    return row


def header_row(width: int) -> Text:
    name_w = max(8, width - 42)
    return Text(f"{'#':>6} {'instance':<{name_w}} {'status':<13} ✓ {'steps':>5} {'reward':>6}", style="bold")
