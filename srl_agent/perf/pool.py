"""`srl-agent perf pool`: what the Docker host pool adds to each episode, measured against the same work without it.

    placement     HostPool.acquire + release (the lock, the choice of host), one thread and 16 contending threads
    start/close   a sandbox started, one command run, closed: DockerSandbox on the host directly vs through the pool
                  (placement, the host's labels, the slot), interleaved in one run on the first host, same image
    image check   the up-front readiness check when every image is already everywhere (a run pays it once: one
                  image listing per host, in parallel), and the copy of images a host lacks (once per host and image)

An episode is two sandboxes (agent, then grading), so the pool's per-episode overhead is 2 x placement (plus the
readiness check divided by the run's episodes); the start/close pair shows whether anything else hides there. Throughput for N hosts is
projected from these numbers in docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from srl_agent.sandbox.config import SandboxConfig


def _spread(xs: list[float], scale: float = 1000.0) -> dict[str, float]:
    """mean, standard deviation, median, min and max, in ms (scale 1000) or µs (scale 1e6)."""
    return {"mean": round(statistics.fmean(xs) * scale, 3), "stdev": round(statistics.stdev(xs) * scale, 3),
            "median": round(statistics.median(xs) * scale, 3), "min": round(min(xs) * scale, 3),
            "max": round(max(xs) * scale, 3), "n": len(xs)}


def _placement(pool: Any, n: int, threads: int) -> float:
    """Seconds per acquire+release with `threads` threads doing n each."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(n):
            pool.release(pool.acquire())

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    return (time.perf_counter() - t0) / (n * threads)


def _start_close(pool: Any, config: SandboxConfig, reps: int, bar: Any) -> dict[str, Any]:
    from srl_agent.sandbox.docker import DockerSandbox

    first = pool.live()[0]
    direct: list[float] = []
    pooled: list[float] = []
    for _ in range(reps):  # interleaved: both series see the same machine load
        for series, start in ((direct, lambda: DockerSandbox(config, client=pool.client(first))),
                              (pooled, lambda: pool.start(config))):
            t0 = time.perf_counter()
            sandbox = start()
            try:
                assert sandbox.run("true").exit_code == 0
            finally:
                sandbox.close()
            series.append(time.perf_counter() - t0)
            bar.update(1)
    diffs = [p - d for p, d in zip(pooled, direct, strict=True)]
    return {"host": first, "direct_ms": _spread(direct), "pool_ms": _spread(pooled), "pool_minus_direct_ms": _spread(diffs)}


def run_pool_bench(hosts_spec: str | None, image: str, task_images: list[str], reps: int = 20) -> dict[str, Any]:
    from tqdm import tqdm

    from srl_agent.sandbox.hosts import LOCAL, DockerHost, parse_hosts
    from srl_agent.sandbox.image_transfer import How, ensure_on_hosts
    from srl_agent.sandbox.pool import HostPool

    hosts = parse_hosts(hosts_spec) if hosts_spec else (DockerHost(LOCAL),)
    pool = HostPool.connect(hosts)
    clients = {url: pool.client(url) for url in pool.live()}
    images = [image, *task_images]
    t0 = time.perf_counter()
    first = ensure_on_hosts(clients, images, progress=True)  # copies what a host lacks (a fresh host: everything)
    first_s = time.perf_counter() - t0
    copies = [r for r in first if r.how is How.COPIED]
    checks = []
    for _ in range(5):
        t = time.perf_counter()
        ensure_on_hosts(clients, images, progress=False)
        checks.append(time.perf_counter() - t)
    result: dict[str, Any] = {
        "hosts": [{"url": u, "capacity": pool.capacity[u]} for u in pool.live()],
        "placement_us": {"1_thread": round(_placement(pool, 20000, 1) * 1e6, 2),
                         "16_threads": round(_placement(pool, 2000, 16) * 1e6, 2)},
        "image_check": {"images": len(set(images)), "hosts": len(clients), "all_present_ms": _spread(checks)},
        "image_copy": {"first_readiness_s": round(first_s, 2), "copied": len(copies),
                       "copy_s": round(max((r.seconds for r in copies), default=0.0), 2),
                       "archive_mb": round(sum({(r.host, r.source): r.archive_bytes for r in copies}.values()) / 1e6, 1)},
    }
    with tqdm(total=2 * reps, desc="start/close direct vs pool", unit="sandbox") as bar:
        result["start_close"] = _start_close(pool, SandboxConfig(image=image), reps, bar)
    # What the pool adds per episode by construction: two placements (the start itself is the same DockerSandbox on
    # an explicit client; start_close checks that no other cost hides there, within the machine's noise).
    result["per_episode_overhead_ms"] = round(2 * result["placement_us"]["1_thread"] / 1000, 4)
    return result
