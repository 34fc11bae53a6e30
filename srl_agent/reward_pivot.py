"""The `pivot` reward: NeMo Gym's `swe_pivot` verifier (PivotRL) re-implemented from its documented behaviour.

It scores one policy tool call against the expert's through gates, cheapest first; a failed gate ends with 0:

    0. tool      same tool name (case-insensitive), or both names in one known category (edit, bash, search, read,
                 finish, think, planning); an unknown name matches only itself.
    1. target    edit: same editor sub-command, same last 2 path components, and a view covers >= 80% of the
                 expert's view_range; bash: same command verb, at least one shared path (last 3 components) when
                 both name paths, and command similarity >= 0.3; search/read: same last 3 path components.
    2. args      edit: min(sim(old_str), sim(new_str)) (an empty side scores 1 only against an empty side), else the
                 similarity of the patch/content; bash: sim(command); others 1. Binary mode: 1 if >= 0.8 else 0.
                 Continuous mode: 1 above 0.8, 0.5 + 0.5 (s - 0.4) / 0.4 between 0.4 and 0.8, 0 below 0.4.
    4. size      continuous mode only: edits lose up to 10% in proportion to their content length (capped at 500).

`sim` is `difflib.SequenceMatcher(None, a[:2000], b[:2000]).ratio()` with difflib's default autojunk, as published
(srl-agent's own `difflib` mode turns autojunk off). There is no `<think>` format and no -1: a completion without a
tool call scores 0 (`model_output_invalid`). Differences from the published verifier are listed in docs/pivot.md.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from srl_agent.actions import Action, Bash, Edit, Submit, action_params, parse_function_calls, tool_name


class Category(StrEnum):
    EDIT = "edit"
    BASH = "bash"
    SEARCH = "search"
    READ = "read"
    FINISH = "finish"
    THINK = "think"
    PLANNING = "planning"
    UNKNOWN = "unknown"


# Tool names of OpenHands / OpenCode / Codex-style scaffolds, by what the tool does. A name also matches with its
# underscores removed (so the CamelCase `StrReplaceEditor` is an edit tool).
_CATEGORY_NAMES: dict[Category, str] = {
    Category.EDIT: "str_replace_editor text_editor file_editor code_editor edit_file modify_file update_file file_edit "
    "edit modify apply_patch patch_file apply_diff apply_changes write write_file save_file create_file",
    Category.BASH: "execute_bash run_bash bash_exec shell_run shell bash terminal shell_command shell_cmd "
    "run_shell_cmd exec_command exec_cmd",
    Category.SEARCH: "grep search_text find_pattern text_search glob find_files file_glob match_files grep_files "
    "search_files find_in_files code_search list_dir ls show_dir ls_dir list_directory",
    Category.READ: "read read_file view_file cat_file view file_view inspect show_file read_file_content",
    Category.FINISH: "finish submit",
    Category.THINK: "think",
    Category.PLANNING: "task_tracker todo_tracker plan_tracker todo_read todo_write update_plan list_tasks "
    "update_tasks read_todos write_todos edit_plan modify_plan",
}
_CATEGORY_OF: dict[str, Category] = {
    key: category
    for category, names in _CATEGORY_NAMES.items()
    for name in names.split()
    for key in (name, name.replace("_", ""))
}


def category(name: str) -> Category:
    return _CATEGORY_OF.get(name.lower(), Category.UNKNOWN)


class Failure(StrEnum):
    """Why a call scored what it did; the values are the published verifier's `failure_reason` strings."""

    NONE = "none"
    EXPECTED_ACTION_INVALID = "expected_action_invalid"
    MODEL_OUTPUT_INVALID = "model_output_invalid"
    TOOL_NAME_MISMATCH = "tool_name_mismatch"
    TARGET_MISMATCH = "target_mismatch"
    SIMILARITY_BELOW_THRESHOLD = "similarity_below_threshold"


@dataclass(frozen=True, slots=True)
class PivotConfig:
    """The published verifier's settings (its defaults). `continuous=False` is its `reward_mode: binary`."""

    continuous: bool = False
    target_match: bool = True
    argument_similarity: bool = True
    similarity_threshold: float = 0.4
    similarity_full_credit: float = 0.8
    diff_size_shaping: bool = True
    diff_size_alpha: float = 0.1
    max_chars: int = 2000
    bash_target_floor: float = 0.3


DEFAULT_CONFIG = PivotConfig()


@dataclass(frozen=True, slots=True)
class PivotVerdict:
    """The reward and every gate's outcome (None: the gate was not reached), like the verifier's response fields."""

    reward: float
    failure: Failure
    tool_name_match: bool = False
    target_match: bool | None = None
    similarity: float | None = None
    diff_size_penalty: float | None = None


@dataclass(frozen=True, slots=True)
class ToolCallArgs:
    """One tool call as the verifier sees it: a name and its JSON arguments (a non-object counts as no arguments)."""

    name: str
    args: dict[str, Any]

    @classmethod
    def parse(cls, name: Any, arguments: Any) -> ToolCallArgs:
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                arguments = {}
        return cls(str(name or ""), arguments if isinstance(arguments, dict) else {})


def call_of_action(action: Action) -> ToolCallArgs:
    """srl-agent's typed action as a JSON tool call (editor view_range as a list, insert_line as an int)."""
    if isinstance(action, Bash):
        return ToolCallArgs(tool_name(action), {"command": action.command})
    if isinstance(action, Edit):
        args: dict[str, Any] = dict(action_params(action))
        if action.view_range is not None:
            args["view_range"] = list(action.view_range)
        if action.insert_line is not None:
            args["insert_line"] = action.insert_line
        return ToolCallArgs(tool_name(action), args)
    if isinstance(action, Submit):
        return ToolCallArgs(tool_name(action), {})
    return ToolCallArgs(action.name, dict(action.arguments))


# ---------------------------------------------------------------------------------------------------------------
# What the gates compare


def similarity(a: str, b: str, max_chars: int = 2000) -> float:
    # Truncation bounds SequenceMatcher's quadratic worst case; autojunk stays on, as in the published verifier.
    return difflib.SequenceMatcher(None, a[:max_chars], b[:max_chars]).ratio()


def _first(args: dict[str, Any], keys: tuple[str, ...]) -> str:
    return next((str(args[k]).strip() for k in keys if k in args), "")


def _path(args: dict[str, Any]) -> str:
    return _first(args, ("path", "file", "file_path", "filename", "file_name"))


def _command(args: dict[str, Any]) -> str:
    return _first(args, ("command", "cmd"))


def _suffix(path: str, parts: int) -> str:
    """The last `parts` components: tolerant of different repository roots (/testbed vs /workspace/repo)."""
    return "/".join(path.strip("/").split("/")[-parts:])


def _verb(command: str) -> str:
    words = command.split()
    return words[0].rsplit("/", 1)[-1] if words else ""


# A path in a shell command: /abs/path, ./rel or ../rel, or dir/file (one slash at least), after a word boundary.
_PATH = re.compile(r"""(?:^|[\s='"(])((?:/[\w.-]+)+|\.\.?/[\w./-]+|[\w.-]+/[\w./-]+)""")


def _command_paths(command: str) -> set[str]:
    found = (p for p in _PATH.findall(command) if len(p) > 2 and not p.startswith("--"))
    return {_suffix(p.rstrip("/"), 3) for p in found} - {""}


def _view_range(value: Any) -> tuple[int, int] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, list) and len(value) == 2:
        try:
            return int(value[0]), int(value[1])
        except (TypeError, ValueError):
            return None
    return None


def _edit_content(args: dict[str, Any]) -> str:
    if "new_str" in args:
        return f"{args.get('old_str', '')}\n{args['new_str']}"
    for key in ("patch", "diff"):
        if key in args:
            return str(args[key])
    if "content" in args or "file_text" in args:
        return str(args.get("content", args.get("file_text", "")))
    return ""


# ---------------------------------------------------------------------------------------------------------------
# The gates


def target_matches(cat_p: Category, p: dict[str, Any], cat_e: Category, e: dict[str, Any], cfg: PivotConfig) -> bool:
    if cat_p == cat_e == Category.EDIT:
        sub_p, sub_e = str(p.get("command", "")), str(e.get("command", ""))
        if sub_p and sub_e and sub_p != sub_e:
            return False
        path_p, path_e = _path(p), _path(e)
        if path_p and path_e and _suffix(path_p, 2) != _suffix(path_e, 2):
            return False
        range_p, range_e = _view_range(p.get("view_range")), _view_range(e.get("view_range"))
        if sub_p == sub_e == "view" and range_p and range_e:  # no range = the whole file, which covers any range
            overlap = max(0, min(range_p[1], range_e[1]) - max(range_p[0], range_e[0]))
            if overlap / max(1, range_e[1] - range_e[0]) < 0.8:
                return False
        return True
    if cat_p == cat_e == Category.BASH:
        cmd_p, cmd_e = _command(p), _command(e)
        verb_p, verb_e = _verb(cmd_p), _verb(cmd_e)
        if verb_p and verb_e and verb_p != verb_e:
            return False
        paths_p, paths_e = _command_paths(cmd_p), _command_paths(cmd_e)
        if paths_p and paths_e and not paths_p & paths_e:
            return False
        # A floor on the whole command: `cd a` and `cd b` share a verb but not a target.
        return not (cmd_p and cmd_e and similarity(cmd_p, cmd_e, cfg.max_chars) < cfg.bash_target_floor)
    if cat_p in (Category.SEARCH, Category.READ) and cat_e in (Category.SEARCH, Category.READ):
        path_p, path_e = _path(p), _path(e)
        return not (path_p and path_e) or _suffix(path_p, 3) == _suffix(path_e, 3)
    return True


def argument_similarity(cat_p: Category, p: dict[str, Any], cat_e: Category, e: dict[str, Any], cfg: PivotConfig) -> float:
    def sim_or_equal(a: str, b: str) -> float:
        return similarity(a, b, cfg.max_chars) if a and b else float(a == b)

    if cat_p == cat_e == Category.EDIT:
        old_p, new_p = str(p.get("old_str", "")), str(p.get("new_str", ""))
        old_e, new_e = str(e.get("old_str", "")), str(e.get("new_str", ""))
        if (old_p or new_p) and (old_e or new_e):
            # Where (old_str) and what (new_str) must both be right: the weaker of the two decides.
            return min(sim_or_equal(old_p, old_e), sim_or_equal(new_p, new_e))
        content_p, content_e = _edit_content(p), _edit_content(e)
        return sim_or_equal(content_p, content_e)
    if cat_p == cat_e == Category.BASH:
        cmd_p, cmd_e = _command(p), _command(e)
        return similarity(cmd_p, cmd_e, cfg.max_chars) if cmd_p and cmd_e else 1.0
    return 1.0


def pivot_verdict(pred: ToolCallArgs | None, expert: ToolCallArgs | None, cfg: PivotConfig = DEFAULT_CONFIG) -> PivotVerdict:
    """Score one predicted tool call (None: the model made none) against the expert's."""
    if expert is None:
        return PivotVerdict(0.0, Failure.EXPECTED_ACTION_INVALID)
    if pred is None:
        return PivotVerdict(0.0, Failure.MODEL_OUTPUT_INVALID)
    cat_p, cat_e = category(pred.name), category(expert.name)
    if pred.name.lower() != expert.name.lower() and (cat_p != cat_e or cat_p == Category.UNKNOWN):
        return PivotVerdict(0.0, Failure.TOOL_NAME_MISMATCH)
    target = None
    if cfg.target_match:
        target = target_matches(cat_p, pred.args, cat_e, expert.args, cfg)
        if not target:
            return PivotVerdict(0.0, Failure.TARGET_MISMATCH, True, False)
    reward, sim = 1.0, None
    if cfg.argument_similarity:
        sim = argument_similarity(cat_p, pred.args, cat_e, expert.args, cfg)
        low, full = cfg.similarity_threshold, cfg.similarity_full_credit
        if sim >= full:
            reward = 1.0
        elif cfg.continuous and sim >= low:
            reward = 0.5 + 0.5 * (sim - low) / (full - low)  # partial credit: 0.5 at the threshold, 1 at full credit
        else:
            return PivotVerdict(0.0, Failure.SIMILARITY_BELOW_THRESHOLD, True, target, sim)
    penalty = None
    if cfg.continuous and cfg.diff_size_shaping:
        content = _edit_content(pred.args) if cat_p == Category.EDIT else ""
        penalty = cfg.diff_size_alpha * min(len(content) / 500, 1.0) if content else 0.0
        reward *= 1.0 - penalty
    return PivotVerdict(reward, Failure.NONE, True, target, sim, penalty)


def pivot_similarity(pred: Action, expert: Action, cfg: PivotConfig = DEFAULT_CONFIG) -> float:
    """The pivot reward of two srl-agent actions."""
    return pivot_verdict(call_of_action(pred), call_of_action(expert), cfg).reward


def pivot_completion_reward(completion: str, expert: Action, cfg: PivotConfig = DEFAULT_CONFIG) -> float:
    """The pivot reward of a policy completion: its first canonical call (after `</think>`, if any) vs the expert.

    Like the verifier, which takes the first function_call item of a response and ignores any text, a completion
    without a call scores 0 and the thought is neither required nor scored.
    """
    calls = parse_function_calls(completion.rpartition("</think>")[2])
    pred = ToolCallArgs(calls[0][0], dict(calls[0][1])) if calls else None
    return pivot_verdict(pred, call_of_action(expert), cfg).reward
