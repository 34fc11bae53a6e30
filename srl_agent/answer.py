"""The answer format, both ways: what the policy is shown (chat-templated prompt ids) and what it must write back.

A turn is exactly one `<think>…</think>` block followed by exactly one action in the canonical function-call form
(srl_agent.actions), nothing after it. Everything that reads or writes a turn goes through here: the SRL reward
(reward.py), the agent loop and its scripted policies (agent/), the SFT warm start and the SFT baseline (train/),
and the live replay (replay/live.py).

One whitespace convention for what is written: `<think>\\n{thought}\\n</think>\\n{action}`, the tags on their own
lines, as reasoning chat models (Qwen3, DeepSeek-R1) emit them. Parsing accepts any whitespace around the thought
and the action (`<think>x</think><function=…>` parses too): the policy is judged on what it says, not on newlines.

    ids = encode_prompt(tokenizer, messages)               # the ids the policy samples from and the loss conditions on
    text = render_completion("look first", Bash("ls"))     # "<think>\\nlook first\\n</think>\\n<function=bash>…"
    target = encode_completion(tokenizer, thought, action) # render_completion's ids + EOS: what SFT trains
    parsed = parse_completion(text)                        # ParsedCompletion(thought, action, action_text)
    observation = format_error_message(str(FormatError))   # what the agent is told after a malformed turn
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srl_agent.actions import CORE_TOOLS, Action, ActionParseError, parse_action, render_action, tool_name

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class FormatError(ValueError):
    """The completion does not follow `<think>…</think>` + one canonical action."""


@dataclass(frozen=True, slots=True)
class ParsedCompletion:
    thought: str
    action: Action
    action_text: str  # canonical rendering of `action`


def encode_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Chat template as text, then encode once: these ids are what the policy sees and what the loss conditions on."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def render_completion(thought: str, action: Action | str) -> str:
    """A turn in the trained format: `<think>\\n{thought}\\n</think>\\n{canonical action}`. `action` is an Action or
    its canonical text. Tags inside the thought (e.g. a replayed expert's) would break the format, so they are dropped."""
    thought = thought.replace(THINK_OPEN, "").replace(THINK_CLOSE, "").strip()
    text = action if isinstance(action, str) else render_action(action)
    return f"{THINK_OPEN}\n{thought}\n{THINK_CLOSE}\n{text}"


def encode_completion(tokenizer: Any, thought: str, action: Action | str) -> tuple[int, ...]:
    """The token ids a supervised step trains on: `render_completion` + EOS (so stopping is learnt). The SFT warm
    start and the SFT baseline both build their targets here, so they train the same bytes the agent loop parses."""
    text = render_completion(thought, action)
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"]) + (tokenizer.eos_token_id,)


def parse_completion(completion: str, allowed_tools: frozenset[str] = CORE_TOOLS, min_thought_chars: int = 0) -> ParsedCompletion:
    """Split a completion into thought and action; raise FormatError on any deviation from the format.

    `min_thought_chars`: a thought with fewer non-space characters is a format error (training uses 1: the format has
    a thought before every action, and an empty `<think></think>` would otherwise earn the action's full reward)."""
    text = completion.strip()
    if not text:
        raise FormatError("empty completion")
    if not text.startswith(THINK_OPEN):
        raise FormatError("completion must start with <think>")
    # Exactly one think block: a second <think> or a </think> smuggled into the action would let the policy hide
    # reasoning inside the scored part (or vice versa).
    if text.count(THINK_OPEN) != 1 or text.count(THINK_CLOSE) != 1:
        raise FormatError(
            f"expected exactly one <think>…</think> block, found {text.count(THINK_OPEN)} open / {text.count(THINK_CLOSE)} close tags"
        )
    thought, _, action_text = text[len(THINK_OPEN) :].partition(THINK_CLOSE)
    if len("".join(thought.split())) < min_thought_chars:
        raise FormatError(f"the thought inside <think>…</think> has fewer than {min_thought_chars} non-space characters")
    try:
        action = parse_action(action_text)
    except ActionParseError as e:
        raise FormatError(f"action: {e}") from None
    if tool_name(action) not in allowed_tools:
        raise FormatError(f"unknown tool {tool_name(action)!r}; allowed: {sorted(allowed_tools)}")
    return ParsedCompletion(thought.strip(), action, render_action(action))


FORMAT_ERROR = """\
Your output was not in the required format ({error}).
Write your reasoning inside <think>...</think>, then exactly ONE function call and nothing after it, for example:
<think>
I should look at the repository first.
</think>
<function=bash>
<parameter=command>ls /testbed</parameter>
</function>"""


def format_error_message(error: str) -> str:
    """The observation after a malformed turn: the error and the format, so the policy can recover."""
    return FORMAT_ERROR.format(error=error)
