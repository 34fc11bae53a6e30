"""NeMo Gym rows under the `pivot` reward: the expert call of a pivot row, the tool call of a Responses-API rollout,
and the rescoring of a rollout file against the verdicts the published verifier recorded in it.

    from srl_agent.reward_pivot_rollouts import rescore_rollouts
    checks = rescore_rollouts(pivot_rows, rollouts)      # joined on uuid
    assert all(c.equal for c in checks)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from srl_agent.reward_pivot import DEFAULT_CONFIG, Failure, PivotConfig, PivotVerdict, ToolCallArgs, pivot_verdict


def expected_call(row: dict[str, Any]) -> ToolCallArgs | None:
    """The expert call of a pivot row: `expected_action`, else `expected_answer` as JSON, else metadata's."""
    candidates: list[Any] = [row.get("expected_action")]
    answer = row.get("expected_answer")
    if isinstance(answer, str) and answer:
        try:
            candidates.append(json.loads(answer))
        except json.JSONDecodeError:
            pass
    if isinstance(row.get("metadata"), dict):
        candidates.append(row["metadata"].get("expected_action"))
    for c in candidates:
        if isinstance(c, dict) and c.get("type") == "function_call" and "name" in c:
            return ToolCallArgs.parse(c["name"], c.get("arguments", ""))
    return None


def response_call(response: dict[str, Any]) -> ToolCallArgs | None:
    """The first `function_call` item of a Responses-API response's output (text alone is no call)."""
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "function_call":
            return ToolCallArgs.parse(item.get("name"), item.get("arguments", ""))
    return None


@dataclass(frozen=True, slots=True)
class RolloutCheck:
    """One NeMo Gym rollout rescored: the verdict recorded in the file and ours, field by field."""

    uuid: str
    recorded: PivotVerdict
    ours: PivotVerdict

    @property
    def equal(self) -> bool:
        a, b = self.recorded, self.ours
        close = lambda x, y: (x is None) == (y is None) and (x is None or abs(x - y) < 1e-9)  # noqa: E731
        return (close(a.reward, b.reward) and a.failure == b.failure and a.tool_name_match == b.tool_name_match
                and a.target_match == b.target_match and close(a.similarity, b.similarity)
                and close(a.diff_size_penalty, b.diff_size_penalty))


def recorded_verdict(rollout: dict[str, Any]) -> PivotVerdict:
    return PivotVerdict(float(rollout["reward"]), Failure(rollout.get("failure_reason") or "none"),
                        bool(rollout.get("tool_name_match")), rollout.get("target_match"),
                        rollout.get("similarity_score"), rollout.get("diff_size_penalty"))


def rescore_rollouts(pivot_rows: list[dict[str, Any]], rollouts: list[dict[str, Any]],
                     cfg: PivotConfig = DEFAULT_CONFIG) -> list[RolloutCheck]:
    """Score each rollout's response against its pivot row's expected action (joined on `uuid`; a rollout file keeps
    only the response), next to the verdict the verifier recorded."""
    expected = {str(r.get("uuid")): expected_call(r) for r in pivot_rows}
    checks = []
    for rollout in rollouts:
        uuid = str(rollout.get("uuid"))
        if uuid not in expected:
            raise KeyError(f"rollout {uuid!r} has no pivot row with that uuid")
        ours = pivot_verdict(response_call(rollout.get("response") or {}), expected[uuid], cfg)
        checks.append(RolloutCheck(uuid, recorded_verdict(rollout), ours))
    return checks
