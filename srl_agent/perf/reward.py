"""`srl-agent perf reward`: how far the rapidfuzz reward is from the paper's difflib reward, and how much faster.

Pairs are realistic: for every expert action in the sample data, the "prediction" is another action of the same
trajectory with the same tool (a plausible near miss, e.g. two different `grep`s or two edits of one file) and one
random action of the corpus (usually a miss).
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from srl_agent.actions import render_action, tool_name
from srl_agent.readers import read_trajectories
from srl_agent.reward import difflib_ratio, rapidfuzz_ratio


def action_pairs(sample_dir: Path, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    trajectories = list(read_trajectories([sample_dir], skip_bad=True))
    corpus = [render_action(s.action) for t in trajectories for s in t.steps]
    pairs = []
    for traj in trajectories:
        by_tool: dict[str, list[str]] = {}
        for step in traj.steps:
            by_tool.setdefault(tool_name(step.action), []).append(render_action(step.action))
        for texts in by_tool.values():
            for i, expert in enumerate(texts):
                if len(texts) > 1:
                    pairs.append((texts[(i + 1) % len(texts)], expert))
                pairs.append((rng.choice(corpus), expert))
    return pairs


def _time(fn: Any, pairs: list[tuple[str, str]]) -> tuple[list[float], float]:
    start = time.perf_counter()
    values = [fn(p, e) for p, e in pairs]
    return values, time.perf_counter() - start


def run_reward_bench(sample_dir: Path) -> dict[str, Any]:
    pairs = action_pairs(sample_dir)
    slow, difflib_s = _time(difflib_ratio, pairs)
    fast, rapidfuzz_s = _time(rapidfuzz_ratio, pairs)
    diffs = sorted(f - s for f, s in zip(fast, slow, strict=True))
    return {
        "pairs": len(pairs),
        "mean_chars": round(statistics.mean(len(p) + len(e) for p, e in pairs) / 2, 1),
        "difflib_mean": round(statistics.mean(slow), 4),
        "rapidfuzz_mean": round(statistics.mean(fast), 4),
        "abs_diff_mean": round(statistics.mean(diffs), 4),
        "abs_diff_p95": round(diffs[int(0.95 * (len(diffs) - 1))], 4),
        "abs_diff_max": round(diffs[-1], 4),
        "rapidfuzz_minus_difflib_min": round(diffs[0], 6),
        "identical_fraction": round(sum(d < 1e-12 for d in diffs) / len(diffs), 4),
        "difflib_us_per_pair": round(1e6 * difflib_s / len(pairs), 1),
        "rapidfuzz_us_per_pair": round(1e6 * rapidfuzz_s / len(pairs), 1),
        "speedup": round(difflib_s / rapidfuzz_s, 1),
    }
