"""The SRL reward: how close the policy's next action is to the expert's.

The policy writes `<think>…</think>` and then exactly one action in the canonical function-call form (the answer
format: srl_agent.answer). The thought is never scored; the action is compared with the expert's canonical action text:

    r = SequenceMatcher(None, pred, expert, autojunk=False).ratio()  = 2M / T  in [0, 1]
    r = -1 (the format penalty) when the completion is malformed.

`autojunk=False` matters: with the default, characters frequent in strings of >= 200 characters are ignored and a
1,000-character string against itself with 3 insertions scores 0.50 instead of 0.998. The argument order is fixed to
(pred, expert) because ratio() is not symmetric.

    >>> from srl_agent.reward import srl_reward
    >>> srl_reward("<think>list files</think>\\n<function=bash>\\n<parameter=command>ls</parameter>\\n</function>",
    ...            "<function=bash>\\n<parameter=command>ls -a</parameter>\\n</function>")  # doctest: +ELLIPSIS
    0.976
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from typing import Any, Literal

from srl_agent.actions import CORE_TOOLS, Action, Bash, Edit, parse_action, render_action, tool_name
from srl_agent.answer import FormatError, parse_completion

RewardMode = Literal["difflib", "rapidfuzz", "action", "pivot"]
REWARD_MODES: tuple[str, ...] = ("difflib", "rapidfuzz", "action", "pivot")

# ---------------------------------------------------------------------------------------------------------------
# Similarities between canonical action texts


# Bounded cost (docs/reliability.md): any completion scores in well under 100 ms, however long.
DIFFLIB_MAX_WORK = 2_000_000
"""Exact Ratcliff/Obershelp only while sum_c n_pred(c) * n_expert(c) (the inner-loop steps of its longest-match
search, ~25 ns each in cydifflib) stays below this: any two actions of up to ~5,000 characters of code."""
LCS_MAX_CHARS = 20_000
"""Beyond it, the indel ratio compares the first LCS_MAX_CHARS characters of each text and is scaled by the length
bound (below)."""


def difflib_ratio(pred: str, expert: str) -> float:
    """The paper's 2M/T (Ratcliff/Obershelp matching blocks), autojunk off; rapidfuzz_ratio when that would be slow.

    SequenceMatcher is quadratic (a 1 MB `create` against a 40 KB expert took minutes), so past DIFFLIB_MAX_WORK the
    score is the indel ratio 2·LCS/T instead: the same form, >= 2M/T and usually within a few hundredths of it.
    """
    if len(pred) * len(expert) > DIFFLIB_MAX_WORK and _match_work(pred, expert) > DIFFLIB_MAX_WORK:
        return rapidfuzz_ratio(pred, expert)
    import cydifflib  # difflib.SequenceMatcher in C++: the same blocks and ratio, ~25x faster

    return cydifflib.SequenceMatcher(None, pred, expert, autojunk=False).ratio()


def _match_work(a: str, b: str) -> int:
    if len(a) + len(b) > 4 * LCS_MAX_CHARS:  # counting alone would cost milliseconds; the answer is "too much"
        return DIFFLIB_MAX_WORK + 1
    from collections import Counter

    counts_b = Counter(b)
    return sum(n * counts_b[c] for c, n in Counter(a).items())


def rapidfuzz_ratio(pred: str, expert: str) -> float:
    """Indel similarity 2·LCS/T (rapidfuzz, C++). LCS >= difflib's M, so this is >= difflib_ratio, usually close.

    Texts longer than LCS_MAX_CHARS: the ratio of their first LCS_MAX_CHARS characters times 2·min(|a|,|b|)/(|a|+|b|),
    the most any two texts of these lengths can score, so a padded or truncated action never scores above what its
    length allows (bit-parallel LCS costs |a|·|b|/64 word operations: 1 MB x 40 KB would take ~0.5 s, 20 KB x 20 KB ~15 ms).
    """
    from rapidfuzz.fuzz import ratio

    if len(pred) <= LCS_MAX_CHARS and len(expert) <= LCS_MAX_CHARS:
        return ratio(pred, expert) / 100.0
    length_bound = 2 * min(len(pred), len(expert)) / (len(pred) + len(expert))
    return ratio(pred[:LCS_MAX_CHARS], expert[:LCS_MAX_CHARS]) / 100.0 * length_bound


_WS = re.compile(r"\s+")


def _normalise_bash(command: str) -> str:
    """Whitespace and quoting do not change what most commands do: `grep -n 'foo' x` == `grep -n foo  x`."""
    if len(command) > LCS_MAX_CHARS:  # shlex is pure Python (~1 s per MB): such commands are compared as written
        return command
    try:
        return shlex.join(shlex.split(command, comments=False, posix=True))
    except ValueError:  # unbalanced quotes: fall back to whitespace normalisation
        return _WS.sub(" ", command.strip())


def action_similarity(pred: Action, expert: Action) -> float:
    """Action-aware similarity (beyond the paper): a different tool scores 0; edits need the same sub-command and
    average the similarity of path and of each text argument; bash compares normalised commands."""
    if tool_name(pred) != tool_name(expert):
        return 0.0
    if isinstance(pred, Bash) and isinstance(expert, Bash):
        return difflib_ratio(_normalise_bash(pred.command), _normalise_bash(expert.command))
    if isinstance(pred, Edit) and isinstance(expert, Edit):
        if pred.command != expert.command:
            return 0.0
        parts = [difflib_ratio(pred.path, expert.path)]
        for field in ("file_text", "old_str", "new_str", "insert_line", "view_range"):
            a, b = getattr(pred, field), getattr(expert, field)
            if a is not None or b is not None:
                parts.append(difflib_ratio("" if a is None else str(a), "" if b is None else str(b)))
        return sum(parts) / len(parts)
    return difflib_ratio(render_action(pred), render_action(expert))


# ---------------------------------------------------------------------------------------------------------------
# The reward


def srl_reward(completion: str, expert: str, *, mode: RewardMode = "difflib", format_penalty: float = -1.0,
               min_thought_chars: int = 0) -> float:
    """Score one completion against the expert's canonical action text.

    Returns `format_penalty` for malformed completions (a thought shorter than `min_thought_chars` non-space
    characters included), else a similarity in [0, 1] (see `mode`).
    The expert's own tool is always allowed, so targets that use a non-core tool (e.g. SWE-agent `edit`) are reachable.
    `pivot` is PivotRL's gated verifier (srl_agent.reward_pivot): no think format, no penalty (no call scores 0).
    """
    expert_action = parse_action(expert)
    if mode == "pivot":
        from srl_agent.reward_pivot import pivot_completion_reward

        return pivot_completion_reward(completion, expert_action)
    try:
        parsed = parse_completion(completion, CORE_TOOLS | {tool_name(expert_action)}, min_thought_chars)
    except FormatError:
        return format_penalty
    if mode == "difflib":
        return difflib_ratio(parsed.action_text, render_action(expert_action))
    if mode == "rapidfuzz":
        return rapidfuzz_ratio(parsed.action_text, render_action(expert_action))
    if mode == "action":
        return action_similarity(parsed.action, expert_action)
    raise ValueError(f"unknown reward mode {mode!r}; choose one of {REWARD_MODES}")


def _completion_text(completion: Any) -> str:
    """TRL passes strings for standard datasets and [{"role": "assistant", "content": ...}] for conversational ones."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"cannot read a completion of type {type(completion).__name__}")


def srl_rewards(
    completions: Sequence[Any], experts: Sequence[str], *, mode: RewardMode = "difflib", format_penalty: float = -1.0,
    min_thought_chars: int = 0,
) -> list[float]:
    """Batched `srl_reward` over parallel lists."""
    if len(completions) != len(experts):
        raise ValueError(f"{len(completions)} completions but {len(experts)} expert actions")
    return [
        srl_reward(_completion_text(c), e, mode=mode, format_penalty=format_penalty, min_thought_chars=min_thought_chars)
        for c, e in zip(completions, experts, strict=True)
    ]


def is_malformed(completion: str, expert: str, *, mode: RewardMode = "difflib", min_thought_chars: int = 0) -> bool:
    """Would `srl_reward` score this completion as malformed? (Counted from the parse, not from the reward: with
    format_penalty 0 a malformed answer and a wrong one both score 0.) `pivot` has no format: never malformed."""
    if mode == "pivot":
        return False
    try:
        parse_completion(completion, CORE_TOOLS | {tool_name(parse_action(expert))}, min_thought_chars)
    except FormatError:
        return True
    return False


def make_trl_reward(
    mode: RewardMode = "difflib", format_penalty: float = -1.0, column: str = "expert_action"
) -> Callable[..., list[float]]:
    """A reward function with TRL `GRPOTrainer`'s signature, reading the expert action from a dataset column.

    trainer = GRPOTrainer(model=..., reward_funcs=[make_trl_reward()], train_dataset=load_dataset("json", data_files="srl.jsonl")["train"])
    """

    def srl_reward_func(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        if column not in kwargs:
            raise KeyError(f"the dataset needs an {column!r} column (as written by `srl-agent data convert`)")
        return srl_rewards(completions, kwargs[column], mode=mode, format_penalty=format_penalty)

    srl_reward_func.__name__ = f"srl_reward_{mode}"
    return srl_reward_func


srl_reward_func = make_trl_reward()
