"""Images built from `docker/` Dockerfiles, tagged by a content hash of their inputs and rebuilt only when they change.

The hash covers every file of the build context (path, mode, bytes), the build args, and the image id of the
`BASE_IMAGE` build arg when it is a local image, so rebuilding the base image invalidates the images built on it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from srl_agent.errors import UserError
from srl_agent.sandbox.base import SandboxError

IMAGE_LABEL = "srl-agent.image"
INPUTS_LABEL = "srl-agent.inputs"


def docker_dir() -> Path:
    """The repository's `docker/` folder (override with SRL_AGENT_DOCKER_DIR)."""
    env = os.environ.get("SRL_AGENT_DOCKER_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "docker"
    if not path.is_dir():
        raise UserError(f"Dockerfile folder not found at {path}: run from a source checkout or set SRL_AGENT_DOCKER_DIR")
    return path


def context_hash(context_dir: Path, build_args: Mapping[str, str] | None = None, salt: str = "") -> str:
    """sha256 over the context's files (sorted relative path, executable bit, content) and the build args."""
    h = hashlib.sha256(b"srl-agent-image-v1\0" + salt.encode() + b"\0")
    for key, value in sorted((build_args or {}).items()):
        h.update(f"arg {key}={value}\0".encode())
    for path in sorted(p for p in Path(context_dir).rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(context_dir).as_posix()
        if path.is_symlink():
            h.update(f"link {rel} {os.readlink(path)}\0".encode())
            continue
        h.update(f"file {rel} {os.access(path, os.X_OK):d} {path.stat().st_size}\0".encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def image_exists(client, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_image(
    context_dir: str | Path,
    name: str,
    *,
    build_args: Mapping[str, str] | None = None,
    extra_context: Mapping[str, str | Path] | None = None,
    network: str = "none",
    force: bool = False,
    client=None,
    log: Callable[[str], None] | None = None,
) -> str:
    """Build `context_dir` (a folder with a Dockerfile) as `name:<hash16>` unless that tag exists; returns the tag.

    extra_context: {relative path in the context: host file or folder} copied into the build context first (e.g.
    wheels for offline pip). network: the build's network ("none" for offline builds, "default" to let RUN steps
    download). Raises SandboxError with the build log tail when the build fails.
    """
    from srl_agent.sandbox.client import docker_client

    client = client or docker_client()
    args = dict(build_args or {})
    salt = ""
    if "BASE_IMAGE" in args and image_exists(client, args["BASE_IMAGE"]):
        salt = client.images.get(args["BASE_IMAGE"]).id
    with tempfile.TemporaryDirectory(prefix="srl-build-") as tmp:
        ctx = Path(tmp, "ctx")
        shutil.copytree(context_dir, ctx, symlinks=True)
        for rel, src in (extra_context or {}).items():
            dst = ctx / rel
            if Path(src).is_dir():
                shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        digest = context_hash(ctx, args, salt)
        tag = f"{name}:{digest[:16]}"
        if not force and image_exists(client, tag):
            return tag
        if log:
            log(f"building {tag} from {context_dir}")
        _build(client, ctx, tag, args, network, digest, log)
    return tag


def _build(client, ctx: Path, tag: str, args: dict[str, str], network: str, digest: str, log) -> None:
    lines: list[str] = []
    stream = client.api.build(
        path=str(ctx),
        tag=tag,
        buildargs=args,
        network_mode=network,
        rm=True,
        forcerm=True,
        decode=True,
        labels={IMAGE_LABEL: "1", INPUTS_LABEL: digest},
    )
    for chunk in stream:
        if "error" in chunk:
            tail = "".join(lines[-20:])
            raise SandboxError(f"docker build of {tag} failed: {chunk['error'].strip()}\n{tail}")
        text = chunk.get("stream") or chunk.get("status") or ""
        if text:
            lines.append(text if text.endswith("\n") else text + "\n")
            if log and text.startswith("Step "):
                log(text.rstrip())


_available: set[str] = set()
_available_lock = threading.Lock()


def pull_image(image: str) -> None:
    """Make sure `image` is on this machine: found locally, else pulled. Raises SandboxError saying what to do."""
    import docker
    from srl_agent.sandbox.client import docker_client

    if image in _available:
        return
    client = docker_client()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(image)
        except docker.errors.APIError as e:
            reason = getattr(e, "explanation", None) or str(e)
            raise SandboxError(
                f"image {image} is not on this machine and cannot be pulled ({reason}). Pull or build it where a "
                "registry is reachable, then copy it here (docker save | docker load)"
            ) from None
    with _available_lock:
        _available.add(image)
