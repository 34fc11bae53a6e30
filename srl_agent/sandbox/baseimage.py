"""The project's base image (`srl-agent/base`), from a registry image or, offline, from a debootstrap root filesystem.

Offline path: `debootstrap --variant=minbase --include=<BASE_PACKAGES> <suite>` from the host's Debian mirror, then
`tar | docker import` as `srl-agent/rootfs:<suite>-<hash>`; `docker/base/Dockerfile` is then built FROM it with no
network. Registry path: the same Dockerfile FROM `debian:<suite>-slim` installs the packages with apt-get.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from srl_agent.errors import UserError
from srl_agent.sandbox.images import IMAGE_LABEL, build_image, docker_dir, image_exists

# Debian packages of every sandbox image: pytest comes from Debian because containers cannot reach PyPI.
BASE_PACKAGES = ("python3", "python3-pip", "python3-venv", "python3-pytest", "git", "patch", "procps", "ca-certificates")
BASE_NAME = "srl-agent/base"
BASE_LATEST = f"{BASE_NAME}:latest"
ROOTFS_NAME = "srl-agent/rootfs"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def debian_mirror(sources: list[str] | None = None) -> str:
    """The Debian archive named in this host's apt sources (deb822 or one-line), else deb.debian.org."""
    uris: list[str] = []
    if sources is None:
        sources = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]
    for path in sources:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        uris += re.findall(r"^\s*URIs:\s*(\S+)", text, re.M)
        uris += re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M)
    for uri in uris:
        if uri.startswith("http") and "security" not in uri and "/debian" in uri:
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def rootfs_tag(suite: str, packages: tuple[str, ...]) -> str:
    digest = hashlib.sha256(f"minbase {suite} {' '.join(sorted(packages))}".encode()).hexdigest()[:12]
    return f"{ROOTFS_NAME}:{suite}-{digest}"


def build_rootfs_image(client, suite: str, packages: tuple[str, ...], mirror: str, log: Callable[[str], None]) -> str:
    """debootstrap + docker import (needs root and debootstrap); cached by suite and package list."""
    tag = rootfs_tag(suite, packages)
    if image_exists(client, tag):
        return tag
    if os.geteuid() != 0:
        raise UserError("debootstrap needs root: run `sudo srl-agent env build-base` (or use --source registry)")
    if not shutil.which("debootstrap"):
        raise UserError("debootstrap not found: `sudo apt-get install debootstrap` (or use --source registry)")
    with tempfile.TemporaryDirectory(prefix="srl-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp, "rootfs")
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(root), mirror]
        log(f"$ {' '.join(cmd)}  (about a minute)")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-2000:]
            raise UserError(f"debootstrap failed (mirror {mirror}; pick another with --mirror):\n{tail}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        log(f"importing {root} as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            client.api.import_image_from_stream(
                tar.stdout,
                repository=tag.split(":")[0],
                tag=tag.split(":")[1],
                changes=["ENV LANG=C.UTF-8", 'CMD ["bash"]', f"LABEL {IMAGE_LABEL}=1"],
            )
        finally:
            tar.stdout.close()
            if tar.wait() != 0:
                raise UserError(f"tar of {root} failed (exit {tar.returncode})")
    return tag


def _pullable(client, image: str, log: Callable[[str], None]) -> bool:
    import docker

    if image_exists(client, image):
        return True
    try:
        client.images.pull(image)
        return True
    except docker.errors.DockerException as e:
        log(f"cannot pull {image} ({str(e).splitlines()[0][:160]}): building the base offline with debootstrap")
        return False


def ensure_base_image(
    *,
    source: str = "auto",
    suite: str = "bookworm",
    registry_image: str | None = None,
    mirror: str | None = None,
    wheels_dir: str | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> str:
    """Build (or find cached) the base image; returns its content-hash tag, also tagged srl-agent/base:latest.

    source: "debootstrap" (offline), "registry" (FROM registry_image, apt-get with network) or "auto" (an existing
    rootfs image, else the registry image if it can be pulled, else debootstrap). wheels_dir: *.whl files made
    available to pip inside the image (PIP_FIND_LINKS=/wheels).
    """
    from srl_agent.sandbox.client import docker_client

    if source not in ("auto", "debootstrap", "registry"):
        raise UserError(f"unknown base image source {source!r}: use auto, debootstrap or registry")
    client = docker_client()
    registry_image = registry_image or f"debian:{suite}-slim"
    packages = BASE_PACKAGES
    if source == "auto":
        have_rootfs = image_exists(client, rootfs_tag(suite, packages))
        source = "debootstrap" if have_rootfs or not _pullable(client, registry_image, log) else "registry"
    if source == "debootstrap":
        base = build_rootfs_image(client, suite, packages, mirror or debian_mirror(), log)
        network = "none"
    else:
        if not _pullable(client, registry_image, log):
            raise UserError(f"cannot pull {registry_image}: use --source debootstrap on machines without a registry")
        base, network = registry_image, "default"
    extra = {"wheels": wheels_dir} if wheels_dir else None
    tag = build_image(
        docker_dir() / "base",
        BASE_NAME,
        build_args={"BASE_IMAGE": base, "PACKAGES": " ".join(packages)},
        extra_context=extra,
        network=network,
        force=force,
        client=client,
        log=log,
    )
    client.images.get(tag).tag(BASE_NAME, "latest")
    return tag
