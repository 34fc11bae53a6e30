"""The prompt a policy sees at one step: system prompt, issue, and the last K (action, observation) pairs.

The same builder serves SRL training (history = the expert's earlier steps) and the agent loop at evaluation
(history = the policy's own steps), so the policy is evaluated in exactly the format it was trained on.

Layout (chat messages):
    system     tools + "write <think>…</think>, then exactly one function call"
    user       the issue (+ how many earlier steps were omitted by the window)
    assistant  past action k-2 (canonical text, no thought: the expert's reasoning is never a target)
    user       its observation (truncated with a visible marker)
    assistant  past action k-1
    user       its observation
    → the policy writes the next turn
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from srl_agent.actions import render_action
from srl_agent.trajectory import Step

SYSTEM_PROMPT = """\
You are a software engineer fixing an issue in a code repository checked out at /testbed. You act one step at a time.

Tools:
- bash: run a shell command in the repository's sandbox.
  <function=bash>
  <parameter=command>grep -rn "def parse" /testbed/src</parameter>
  </function>
- str_replace_editor: view, create and edit files. Parameters: command (view | create | str_replace | insert |
  undo_edit), path (absolute), file_text (create), old_str and new_str (str_replace: old_str must match exactly once),
  insert_line and new_str (insert after that line), view_range [start, end] (view).
  <function=str_replace_editor>
  <parameter=command>str_replace</parameter>
  <parameter=path>/testbed/src/parser.py</parameter>
  <parameter=old_str>return None</parameter>
  <parameter=new_str>return default</parameter>
  </function>
- submit: finish; your changes to the repository are the solution.
  <function=submit>
  </function>

A parameter value that spans several lines starts and ends on its own line.

Answer in exactly this format: first your reasoning inside <think>...</think>, then exactly ONE function call and
nothing after it. Give only the very next action, not the whole solution."""


@dataclass(frozen=True, slots=True)
class PromptConfig:
    """How much context one step's prompt carries."""

    history_window: int = 2
    """Number of most recent (action, observation) pairs shown. The paper's SWE setting uses 2; -1 keeps all."""
    max_observation_chars: int = 4000
    """Observations longer than this keep their head and tail around a `[… N characters truncated …]` marker."""
    system_prompt: str = SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if self.history_window < -1:
            raise ValueError(f"history_window must be >= 0, or -1 for the full history; got {self.history_window}")
        if self.max_observation_chars < 100:
            raise ValueError(
                f"max_observation_chars must be >= 100 to leave a readable observation; got {self.max_observation_chars}"
            )


def truncate_middle(text: str, limit: int) -> str:
    """Keep the head and the tail (errors and tracebacks usually end the output), with a visible marker between."""
    if len(text) <= limit:
        return text
    marker = f"\n[… {len(text) - limit} characters truncated …]\n"
    head = (limit * 2) // 3
    tail = limit - head
    return text[:head] + marker + text[-tail:]


def issue_message(problem_statement: str, omitted: int) -> str:
    text = f"<issue>\n{problem_statement.strip()}\n</issue>"
    if omitted:
        text += f"\n\n({omitted} earlier step{'s' if omitted != 1 else ''} omitted; the most recent follow.)"
    return text


def build_messages(
    problem_statement: str, history: Sequence[Step], config: PromptConfig = PromptConfig()
) -> list[dict[str, str]]:
    """Chat messages for the step that follows `history` (all earlier steps; the window is applied here)."""
    keep = len(history) if config.history_window == -1 else min(config.history_window, len(history))
    window = list(history[len(history) - keep :])
    messages = [
        {"role": "system", "content": config.system_prompt},
        {"role": "user", "content": issue_message(problem_statement, len(history) - len(window))},
    ]
    for step in window:
        messages.append({"role": "assistant", "content": render_action(step.action)})
        observation = step.observation if step.observation.strip() else "(no output)"
        messages.append({"role": "user", "content": truncate_middle(observation, config.max_observation_chars)})
    return messages
