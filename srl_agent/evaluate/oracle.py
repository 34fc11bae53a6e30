"""The oracle-file setting: the issue the policy sees also carries the files the gold patch edits.

The files are the gold patch's pre-existing files (unidiff; files the patch creates have no base version), read from
the task's repository at the base commit inside the episode's own sandbox right after reset, in patch order:

    <issue>
    {problem statement}

    The fix edits these files; their contents at the base commit follow.

    <file path="src/pkg/module.py">
    {full file text}
    </file>
    </issue>

Everything else is the end-to-end setting: the same multi-turn loop, tools and prompt builder.
"""

from __future__ import annotations

from srl_agent.actions import Action
from srl_agent.env.swe_env import StepResult, SWEEnv

HEADER = "The fix edits these files; their contents at the base commit follow."


def oracle_issue(problem_statement: str, files: dict[str, str]) -> str:
    blocks = [f'<file path="{path}">\n{text.rstrip(chr(10))}\n</file>' for path, text in files.items()]
    return "\n\n".join([problem_statement.rstrip(), HEADER, *blocks]) if blocks else problem_statement


class OracleFileEnv:
    """An `Env` around SWEEnv whose reset() returns the issue plus the oracle files."""

    def __init__(self, env: SWEEnv):
        self.env = env

    def reset(self) -> str:
        from srl_agent.evaluate.harness import modified_files

        issue = self.env.reset()
        files = {}
        for path in modified_files(self.env.task.patch):
            data = self.env.sandbox.read_file(f"{self.env.repo_dir}/{path}")
            files[path] = data.decode("utf-8", errors="replace")
        return oracle_issue(issue, files)

    def step(self, action: Action) -> StepResult:
        return self.env.step(action)

    def submission(self) -> str:
        return self.env.submission()

    def close(self) -> None:
        self.env.close()
