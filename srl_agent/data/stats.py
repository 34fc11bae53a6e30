"""`srl-agent data stats`: what a trajectory collection holds, before converting it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from srl_agent.data.instances import dropped_turns, trajectory_instances
from srl_agent.data.prompts import PromptConfig
from srl_agent.trajectory import Trajectory

PERCENTILES = (50, 90, 95, 99, 100)


def percentile(sorted_values: list[int], p: float) -> int:
    """Nearest-rank percentile of an ascending list (p in [0, 100])."""
    if not sorted_values:
        return 0
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


@dataclass
class DatasetStats:
    trajectories: int = 0
    steps: int = 0
    resolved: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    action_types: Counter[str] = field(default_factory=Counter)
    prompt_chars: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    dropped_turns: Counter[str] = field(default_factory=Counter)  # malformed turns the readers skipped

    def add(
        self, traj: Trajectory, prompt: PromptConfig, count_tokens: Callable[[list[dict[str, str]]], int] | None
    ) -> None:
        self.trajectories += 1
        self.steps += len(traj.steps) - traj.first_target
        self.dropped_turns.update(dropped_turns(traj))
        self.formats[traj.source_format] += 1
        self.resolved[{True: "yes", False: "no", None: "unknown"}[traj.resolved]] += 1
        for inst in trajectory_instances(traj, prompt):
            self.action_types[inst.action_type] += 1
            self.prompt_chars.append(sum(len(m["content"]) for m in inst.prompt))
            if count_tokens is not None:
                self.prompt_tokens.append(count_tokens(list(inst.prompt)))

    def lines(self, skipped: Counter[str]) -> list[str]:
        out = [f"trajectories read: {self.trajectories}"]
        out += [f"  skipped ({reason}): {n}" for reason, n in sorted(skipped.items())]
        out += ["formats: " + ", ".join(f"{k} {v}" for k, v in self.formats.most_common())]
        out += ["resolved: " + ", ".join(f"{k} {v}" for k, v in sorted(self.resolved.items()))]
        mean = self.steps / self.trajectories if self.trajectories else 0.0
        out += [f"steps (= SRL instances): {self.steps}  (mean {mean:.1f} per trajectory)"]
        out += [f"  turns dropped by the reader ({reason}): {n}" for reason, n in sorted(self.dropped_turns.items())]
        out += ["action types:"]
        width = max((len(k) for k in self.action_types), default=0)
        top = max(self.action_types.values(), default=1)
        for kind, n in self.action_types.most_common():
            out.append(f"  {kind:<{width}}  {n:>7}  {'#' * max(1, round(30 * n / top))}")
        for name, values in (("prompt chars", self.prompt_chars), ("prompt tokens", self.prompt_tokens)):
            if values:
                ordered = sorted(values)
                out.append(f"{name}: " + "  ".join(f"p{p} {percentile(ordered, p)}" for p in PERCENTILES))
        return out


def collect_stats(
    trajectories: Iterable[Trajectory],
    prompt: PromptConfig,
    count_tokens: Callable[[list[dict[str, str]]], int] | None = None,
) -> DatasetStats:
    stats = DatasetStats()
    for traj in trajectories:
        stats.add(traj, prompt, count_tokens)
    return stats
