"""Image readiness before any work starts: every image is on every live host of the pool, or the run stops.

For each host and image, in this order:
    present   the host has it (by name)
    copied    another host has it: `docker save` there streamed into `docker load` here through the SDK (no file on
              disk; the images one host needs from one source go in one archive, so shared layers travel once)
    pulled    no host has it: the host pulls it from its registry
    missing   none of the above: after every host was tried, the run fails with the list (before a training run
              loads its model, instead of a batch stalling on the first episode that needs the image)

Images built here (swe-mini) exist on the default daemon first and reach the other hosts by copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

from srl_agent.errors import UserError
from srl_agent.sandbox.base import SandboxError

CHUNK = 1 << 21  # bytes per read of the save stream


class How(Enum):
    PRESENT = "present"
    COPIED = "copied"
    PULLED = "pulled"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class ImageReady:
    """What readiness did for one image on one host."""

    host: str
    image: str
    how: How
    source: str | None = None  # the host it was copied from
    seconds: float = 0.0
    reason: str | None = None  # why it is missing
    archive_bytes: int = 0  # copied: the size of the archive streamed for this image's batch


def has_image(client: Any, image: str) -> bool:
    import docker

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def present(client: Any, images: list[str]) -> set[str]:
    """Which of `images` the host has: one listing of its tags (a lookup per image only for names not found there,
    e.g. digests), so a 500-image check costs one call per host, not 500."""
    tags = {_normal(t) for img in client.api.images() for t in (img.get("RepoTags") or [])}  # one call, no per-image GET
    return {i for i in images if _normal(i) in tags or ("@" in i and has_image(client, i))}


def _normal(name: str) -> str:
    """`python` -> `python:latest`; `docker.io/library/python:3` -> `python:3` (the form the engine lists)."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        name = name.removeprefix(prefix)
    return name if ":" in name.rsplit("/", 1)[-1] or "@" in name else f"{name}:latest"


def copy_images(src: Any, dst: Any, images: list[str]) -> int:
    """Stream `docker save IMAGES` from `src` into `docker load` on `dst`; tags travel with the archive. Returns the
    archive's size in bytes."""
    # The SDK's get_image takes one name; the engine's /images/get takes several (one archive, shared layers once).
    res = src.api._get(src.api._url("/images/get"), params={"names": images}, stream=True)
    src.api._raise_for_status(res)
    sent = [0]

    def stream() -> Iterator[bytes]:
        for chunk in res.iter_content(CHUNK):
            sent[0] += len(chunk)
            yield chunk

    for line in dst.api.load_image(stream()):
        if isinstance(line, dict) and line.get("error"):
            raise SandboxError(f"docker load failed: {line['error']}")
    absent = [i for i in images if not has_image(dst, i)]
    if absent:
        raise SandboxError(f"docker load finished but {', '.join(absent)} is not there")
    return sent[0]


def pull(client: Any, image: str) -> None:
    import docker

    try:
        client.images.pull(image)
    except docker.errors.APIError as e:
        raise SandboxError(getattr(e, "explanation", None) or str(e)) from None


def ensure_on_hosts(clients: dict[str, Any], images: Iterable[str], log: Callable[[str], None] | None = None,
                    progress: bool = True, sources: dict[str, Any] | None = None) -> list[ImageReady]:
    """Make every image present on every host of `clients` (url -> client); raise UserError listing what is missing.
    `sources`: more daemons to copy from that run nothing (e.g. the local one, where swe-mini images are built).
    Hosts are handled in parallel, each host's images in one go."""
    images = sorted(set(images))
    everyone = {**(sources or {}), **clients}
    urls = list(everyone)
    with ThreadPoolExecutor(max_workers=max(1, len(urls)), thread_name_prefix="images") as pool:
        have = dict(zip(urls, pool.map(lambda u: present(everyone[u], images), urls), strict=True))
    done: list[ImageReady] = [ImageReady(u, i, How.PRESENT) for u in clients for i in sorted(have[u])]
    todo = {u: [i for i in images if i not in have[u]] for u in clients}
    todo = {u: need for u, need in todo.items() if need}
    if todo:
        done += _fill(everyone, have, todo, log, progress)
    missing = [r for r in done if r.how is How.MISSING]
    if missing:
        lines = "; ".join(f"{r.image} on {r.host} ({r.reason})" for r in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise UserError(f"{len(missing)} image(s) are not on the hosts that would run them and could be neither "
                        f"copied from another host nor pulled: {lines}{more}. Build or pull them on one host "
                        "(`docker pull`, `docker load`) and rerun: they are copied to the others")
    return done


def _fill(clients: dict[str, Any], have: dict[str, set[str]], todo: dict[str, list[str]],
          log: Callable[[str], None] | None, progress: bool) -> list[ImageReady]:
    from tqdm import tqdm

    bar = tqdm(total=sum(map(len, todo.values())), desc="images to hosts", unit="image", disable=not progress)

    def one_host(url: str) -> list[ImageReady]:
        out: list[ImageReady] = []
        by_source: dict[str, list[str]] = {}
        for image in todo[url]:
            source = next((u for u in clients if u != url and image in have[u]), None)
            if source is not None:
                by_source.setdefault(source, []).append(image)
                continue
            t0 = time.monotonic()
            try:
                pull(clients[url], image)
                out.append(ImageReady(url, image, How.PULLED, seconds=time.monotonic() - t0))
            except SandboxError as e:
                out.append(ImageReady(url, image, How.MISSING, reason=f"pull failed: {str(e)[:200]}"))
            bar.update(1)
        for source, batch in by_source.items():
            if log:
                log(f"copying {len(batch)} image(s) from {source} to {url}")
            t0 = time.monotonic()
            try:
                size = copy_images(clients[source], clients[url], batch)
                out += [ImageReady(url, i, How.COPIED, source, time.monotonic() - t0, archive_bytes=size) for i in batch]
            except Exception as e:  # noqa: BLE001 - recorded per image and raised as one UserError with the rest
                out += [ImageReady(url, i, How.MISSING, source, reason=f"copy from {source} failed: "
                                   f"{type(e).__name__}: {str(e)[:200]}") for i in batch]
            bar.update(len(batch))
        return out

    with ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="images") as pool:
        results = [r for rs in pool.map(one_host, list(todo)) for r in rs]
    bar.close()
    return results
