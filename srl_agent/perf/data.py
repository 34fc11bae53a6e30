"""`srl-agent perf data`: trajectories → SRL instances throughput on a paper-sized set (5,000 trajectories).

The set is built by cycling the real dataset rows found under the sample directory (SWE-smith, SWE-Gym/OpenHands,
ShareGPT and nebius rows: the formats people train on) into one JSONL file, so parsing, detection, prompt building
and writing are all measured, streaming, as `srl-agent data convert` runs them.
"""

from __future__ import annotations

import json
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from srl_agent.data.instances import ConvertConfig, DropReport, build_instances, write_instances
from srl_agent.readers import detect, read_trajectories
from srl_agent.readers.load import iter_records
from srl_agent.trajectory import DataError

ROW_SUFFIXES = (".jsonl", ".json")


def sample_records(sample_dir: Path) -> list[str]:
    """One JSON line per real trajectory record found in dataset-row files (.json/.jsonl) under `sample_dir`."""
    lines = []
    for path in sorted(sample_dir.rglob("*")):
        if path.is_file() and path.suffix in ROW_SUFFIXES:
            for record, _ in iter_records(str(path)):
                if not isinstance(record, DataError) and detect(record) is not None:
                    lines.append(json.dumps(record))
    return lines


def run_data_bench(sample_dir: Path, trajectories: int = 5000, workdir: Path | None = None) -> dict[str, Any]:
    """Build the replicated set, convert it once, and return the measurements."""
    lines = sample_records(sample_dir)
    if not lines:
        raise ValueError(f"no trajectory rows found under {sample_dir}")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        src, out = Path(tmp) / "trajectories.jsonl", Path(tmp) / "instances.jsonl"
        with src.open("w") as f:
            for i in range(trajectories):
                f.write(lines[i % len(lines)] + "\n")
        input_mb = src.stat().st_size / 2**20
        report = DropReport()
        start = time.perf_counter()
        result = read_trajectories([src])
        write_instances(build_instances(result, ConvertConfig(only_resolved=False), report), out)
        seconds = time.perf_counter() - start
        output_mb = out.stat().st_size / 2**20
    # ru_maxrss is KiB on Linux: the whole process, including building the input file.
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "trajectories": report.trajectories,
        "instances": report.instances,
        "distinct_sample_rows": len(lines),
        "seconds": round(seconds, 3),
        "trajectories_per_s": round(report.trajectories / seconds, 1),
        "instances_per_s": round(report.instances / seconds, 1),
        "input_mb": round(input_mb, 1),
        "output_mb": round(output_mb, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {_cpu_count()} cores",
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0))
