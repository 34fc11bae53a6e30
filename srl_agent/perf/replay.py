"""`srl-agent perf replay`: how fast the viewer opens a 100 MB episodes.jsonl and a 1,000-step episode.

The file is built from real trajectories (the shipped swe-mini ones and every trajectory under the sample directory),
each written as an expert-policy `Episode` through srl_agent.episodes (real thoughts, actions and observations),
cycled until the file reaches the target size. Its first line is one 1,000-step episode made of those steps.

Every measurement runs in a fresh interpreter (python -c), so its peak RSS is the viewer's own and imports are paid
as a user pays them. "Naive" is what a viewer that json-loads the whole file would do.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from srl_agent.actions import action_type, render_action
from srl_agent.answer import render_completion
from srl_agent.episodes import Episode, Turn
from srl_agent.trajectory import Trajectory

SHIPPED = Path(__file__).resolve().parents[2] / "trajectories" / "swe_mini.jsonl"


def episode_from_trajectory(traj: Trajectory, steps: list | None = None) -> Episode:
    """An expert trajectory as the episode an expert policy would have produced (turn k = expert step k)."""
    turns = tuple(
        Turn(k, render_completion(s.thought, s.action), s.thought, render_action(s.action),
             s.observation, info={"action": action_type(s.action)})
        for k, s in enumerate(steps if steps is not None else traj.steps)
    )
    bench = "swe-mini" if traj.instance_id.startswith("swe-mini__") else "unknown"
    patch = str(traj.metadata.get("patch") or traj.metadata.get("submission") or "")
    return Episode(traj.instance_id, bench, "expert", "end-to-end", turns, "submitted", patch, traj.resolved)


def build_file(path: Path, sample_dir: Path | None, target_mb: float, long_steps: int = 1000) -> dict[str, Any]:
    """Write the benchmark file; returns what it holds."""
    from srl_agent.readers import read_trajectories

    sources = [SHIPPED] + ([sample_dir] if sample_dir and sample_dir.is_dir() else [])
    trajectories = list(read_trajectories([str(s) for s in sources], skip_bad=True))
    all_steps = [s for t in trajectories for s in t.steps]
    long = episode_from_trajectory(trajectories[0], [all_steps[k % len(all_steps)] for k in range(long_steps)])
    lines = [episode_from_trajectory(t).to_json() + "\n" for t in trajectories]
    target, size, n = int(target_mb * 2**20), 0, 0
    with path.open("w", encoding="utf-8") as f:
        f.write(long.to_json() + "\n")
        size = f.tell()
        while size < target:
            f.write(lines[n % len(lines)])
            size, n = f.tell(), n + 1
    return {"file_mb": round(path.stat().st_size / 2**20, 1), "episodes": n + 1, "distinct_real_trajectories": len(lines),
            "long_episode_steps": long_steps, "long_episode_mb": round(len(long.to_json()) / 2**20, 2)}


# Each probe prints one JSON object: its timings (s) and its peak RSS (MiB).
_PROBE = r"""
import asyncio, json, resource, sys, time
def rss():
    # VmHWM: this address space's peak. ru_maxrss would carry the parent's peak across exec.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
mode, path = sys.argv[1], sys.argv[2]
out = {}
if mode == "naive":
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    out["load_all_s"] = time.perf_counter() - t0
elif mode == "open":
    from srl_agent.replay.sources import default_experts, open_source
    from srl_agent.commands.replay import SHIPPED_EXPERTS  # as the command runs: swe-mini rows scored vs the expert
    out["imports_rss_mb"] = rss()
    src = open_source(path, default_experts([str(SHIPPED_EXPERTS)]))
    out["open_s"] = time.perf_counter() - t0
    t1 = time.perf_counter(); [src.summary(i) for i in range(50)]; out["first_50_rows_s"] = time.perf_counter() - t1
elif mode == "scan":
    from srl_agent.replay.sources import default_experts, open_source
    from srl_agent.commands.replay import SHIPPED_EXPERTS
    src = open_source(path, default_experts([str(SHIPPED_EXPERTS)]))
    t1 = time.perf_counter(); src.find("zz-not-there-zz", 0, 0); out["search_miss_s"] = time.perf_counter() - t1
    t1 = time.perf_counter(); list(src.iter_summaries()); out["summarise_all_s"] = time.perf_counter() - t1
else:
    from srl_agent.replay.app import ReplayApp, Start
    from srl_agent.replay.sources import default_experts, open_source
    from srl_agent.commands.replay import SHIPPED_EXPERTS
    out["imports_rss_mb"] = rss()
    async def main():
        source = open_source(path, default_experts([str(SHIPPED_EXPERTS)]))
        app = ReplayApp(source, Start(0, 999 if mode == "paint_last" else 0))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            out["first_paint_s"] = time.perf_counter() - t0
            assert ("1000/1000" if mode == "paint_last" else "1/1000") in str(app.query_one("#strip").content)
    asyncio.run(main())
out["peak_rss_mb"] = rss()
print(json.dumps(out))
"""


def _probe(mode: str, path: Path, repeats: int) -> dict[str, float]:
    """The median of `repeats` fresh-process runs of one probe."""
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-c", _PROBE, mode, str(path)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"replay bench probe {mode!r} failed:\n{proc.stderr[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {k: round(sorted(r[k] for r in runs)[len(runs) // 2], 3) for k in runs[0]}


def run_replay_bench(sample_dir: Path | None, target_mb: float = 100.0, repeats: int = 3,
                     workdir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "episodes.jsonl"
        result: dict[str, Any] = build_file(path, sample_dir, target_mb)
        with path.open("rb") as f:  # warm the page cache: every probe then measures the viewer, not the disk
            while f.read(1 << 22):
                pass
        result["viewer"] = _probe("open", path, repeats)
        # A search or a filter reads every byte; the mapped pages they touch count in RSS but are the page cache's.
        result["whole_file"] = _probe("scan", path, repeats)
        result["first_paint"] = _probe("paint", path, repeats)
        result["first_paint_last_step"] = _probe("paint_last", path, repeats)
        result["naive_json_load_all"] = _probe("naive", path, 1)
    result.update(repeats=repeats, python=platform.python_version(), machine=f"{platform.machine()}")
    return result
