"""The SWE task environment: tasks, the str_replace_editor, the per-attempt environment, and grading."""

from srl_agent.env.editor import Editor, EditorStyle
from srl_agent.env.grading import Fault, GradeResult, eval_command, grade, grade_log, parse_log
from srl_agent.env.repo import (
    ContaminationError,
    RepoError,
    apply_patch,
    find_future_history,
    scrub_future_history,
    submission_diff,
)
from srl_agent.env.swe_env import Env, EpisodeError, StepResult, SWEEnv
from srl_agent.env.task import Task, iter_tasks, load_tasks

__all__ = [
    "ContaminationError",
    "Editor",
    "EditorStyle",
    "Env",
    "EpisodeError",
    "Fault",
    "GradeResult",
    "RepoError",
    "StepResult",
    "SWEEnv",
    "Task",
    "apply_patch",
    "find_future_history",
    "grade",
    "grade_log",
    "iter_tasks",
    "load_tasks",
    "parse_log",
    "scrub_future_history",
    "submission_diff",
    "eval_command",
]
