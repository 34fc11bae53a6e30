"""`srl-agent perf sandbox`: container start and per-command latency of DockerSandbox, measured in one run against a
plain `docker exec` per command and against SWE-ReX (when it is installed in the host venv)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srl_agent.sandbox.config import SandboxConfig


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _timed(fn: Callable[[], Any], n: int, bar) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        bar.update(1)
    return out


def _stats(prefix: str, xs: list[float], scale: float, unit: str) -> dict[str, float]:
    return {
        f"{prefix}_p50_{unit}": round(_pct(xs, 0.5) * scale, 3),
        f"{prefix}_p95_{unit}": round(_pct(xs, 0.95) * scale, 3),
    }


def _concurrent(config: SandboxConfig, n_boxes: int, cmds: int, command: str) -> float:
    from srl_agent.sandbox.docker import DockerSandbox

    boxes = [DockerSandbox(config) for _ in range(n_boxes)]
    try:
        barrier = threading.Barrier(n_boxes + 1)
        errors: list[BaseException] = []

        def work(sb: DockerSandbox) -> None:
            barrier.wait()
            try:
                for _ in range(cmds):
                    if sb.run(command).exit_code != 0:
                        raise RuntimeError(f"{command!r} failed in the benchmark")
            except BaseException as e:  # re-raised below, in the main thread
                errors.append(e)

        threads = [threading.Thread(target=work, args=(sb,)) for sb in boxes]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if errors:
            raise errors[0]
        return n_boxes * cmds / wall
    finally:
        for sb in boxes:
            sb.close()


def run_sandbox_bench(
    image: str,
    *,
    starts: int = 20,
    commands: int = 500,
    exec_commands: int = 100,
    concurrent_commands: int = 200,
    swerex: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure everything in one run; returns the JSON-ready result."""
    from tqdm import tqdm

    from srl_agent.sandbox.docker import DockerSandbox, docker_client

    config = SandboxConfig(image=image)
    total = starts + 3 * commands + 2 * exec_commands
    import os

    res: dict[str, Any] = {"image": image, "starts": starts, "commands": commands, "exec_commands": exec_commands}
    res["host"] = {"cpus": os.cpu_count(), "loadavg_1m_at_start": round(os.getloadavg()[0], 2)}
    with tqdm(total=total, desc="sandbox bench", disable=not progress) as bar:
        start_s, close_s = [], []
        for _ in range(starts):
            t0 = time.perf_counter()
            sb = DockerSandbox(config)
            start_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sb.close()
            close_s.append(time.perf_counter() - t0)
            bar.update(1)
        res.update(_stats("start", start_s, 1, "s"))
        res.update(_stats("close", close_s, 1, "s"))
        with DockerSandbox(config) as sb:
            for _ in range(20):
                sb.run("true")  # warm up
            res.update(_stats("exec", _timed(lambda: sb.run("true"), commands, bar), 1e3, "ms"))
            res.update(_stats("exec_echo", _timed(lambda: sb.run("echo hello"), commands, bar), 1e3, "ms"))
            res.update(_stats("exec_spawn", _timed(lambda: sb.run("ls / > /dev/null"), commands, bar), 1e3, "ms"))
            api = docker_client().api

            def plain_exec(argv: list[str]) -> None:
                eid = api.exec_create(sb.id, argv)["Id"]
                api.exec_start(eid)

            res.update(_stats("docker_exec", _timed(lambda: plain_exec(["true"]), exec_commands, bar), 1e3, "ms"))
            sh = ["sh", "-c", "ls / > /dev/null"]
            res.update(_stats("docker_exec_spawn", _timed(lambda: plain_exec(sh), exec_commands, bar), 1e3, "ms"))
    res["concurrent8_cmds_per_s"] = round(_concurrent(config, 8, concurrent_commands, "true"), 1)
    res["concurrent8_spawn_cmds_per_s"] = round(_concurrent(config, 8, concurrent_commands // 2, "ls / >/dev/null"), 1)
    res["swerex"] = _swerex(image, commands, starts) if swerex else {"skipped": "--no-swerex"}
    res["targets"] = {"exec_p50_ms": 20, "start_p50_s": 0.5}
    res["targets_met"] = res["exec_p50_ms"] < 20 and res["start_p50_s"] < 0.5
    return res


def _swerex(base_image: str, commands: int, starts: int) -> dict[str, Any]:
    """SWE-ReX's DockerDeployment on an image with swe-rex installed from host-downloaded wheels (offline)."""
    import importlib.metadata
    import os

    os.environ.setdefault("SWE_REX_LOG_STREAM_LEVEL", "WARNING")  # read when swerex is first imported
    try:
        version = importlib.metadata.version("swe-rex")
    except importlib.metadata.PackageNotFoundError:
        return {"available": False, "reason": "swe-rex is not installed in this venv (pip install swe-rex)"}
    try:
        image = _swerex_image(base_image, version)
        return {"available": True, "version": version, "image": image, **asyncio.run(_swerex_run(image, commands, starts))}
    except Exception as e:  # reported in the JSON: the rest of the benchmark stands on its own
        return {"available": False, "version": version, "reason": f"{type(e).__name__}: {e}"[:500]}


def _swerex_image(base_image: str, version: str) -> str:
    import subprocess
    import sys

    from srl_agent.sandbox.images import build_image, docker_dir

    wheels = Path.home() / ".cache" / "srl-agent" / f"swerex-{version}-wheels"
    if not any(wheels.glob("swe_rex-*.whl")):
        cmd = [sys.executable, "-m", "pip", "download", f"swe-rex=={version}", "-d", str(wheels), "-q"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return build_image(
        docker_dir() / "swerex", "srl-agent/swerex", build_args={"BASE_IMAGE": base_image}, extra_context={"wheels": wheels}
    )


async def _swerex_run(image: str, commands: int, starts: int) -> dict[str, Any]:
    from swerex.deployment.docker import DockerDeployment
    from swerex.runtime.abstract import BashAction, CreateBashSessionRequest

    start_s: list[float] = []
    d = None
    for _ in range(max(3, starts // 4)):  # SWE-ReX starts a web server per container: fewer samples
        t0 = time.perf_counter()
        new = DockerDeployment(image=image, pull="never", startup_timeout=60)
        await new.start()
        await new.runtime.create_session(CreateBashSessionRequest())
        start_s.append(time.perf_counter() - t0)
        if d is None:
            d = new  # kept for the command latencies
        else:
            await new.stop()
    lat: list[float] = []
    try:
        for j in range(commands + 20):
            t0 = time.perf_counter()
            await d.runtime.run_in_session(BashAction(command="true", check="silent"))
            if j >= 20:
                lat.append(time.perf_counter() - t0)
    finally:
        await d.stop()
    return {
        "start_p50_s": round(statistics.median(start_s), 3),
        "exec_p50_ms": round(_pct(lat, 0.5) * 1e3, 3),
        "exec_p95_ms": round(_pct(lat, 0.95) * 1e3, 3),
        "note": "DockerDeployment: container + swerex-remote HTTP server on a mapped port (bridge network), "
        "commands via HTTP to a pexpect-driven bash",
    }
