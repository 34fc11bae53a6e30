"""Image inputs hashing, the offline base-image recipe, and content-hash caching against a real Docker engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from _docker_env import base_image

from srl_agent.errors import UserError
from srl_agent.sandbox import baseimage
from srl_agent.sandbox.base import SandboxError
from srl_agent.sandbox.images import build_image, context_hash


def _ctx(tmp_path: Path, dockerfile: str, extra: str = "one") -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "data.txt").write_text(extra)
    return ctx


def test_context_hash_tracks_content_args_and_mode_not_mtime(tmp_path):
    ctx = _ctx(tmp_path, "FROM scratch\n")
    h = context_hash(ctx, {"A": "1"})
    os.utime(ctx / "data.txt", (1, 1))
    assert context_hash(ctx, {"A": "1"}) == h
    assert context_hash(ctx, {"A": "2"}) != h
    assert context_hash(ctx, {"A": "1"}, salt="sha256:base2") != h
    (ctx / "data.txt").chmod(0o755)
    assert context_hash(ctx, {"A": "1"}) != h
    (ctx / "data.txt").chmod(0o644)
    (ctx / "data.txt").write_text("two")
    assert context_hash(ctx, {"A": "1"}) != h


def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert baseimage.debian_mirror([str(deb822)]) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://ftp.example.org/debian bookworm main\n")
    assert baseimage.debian_mirror([str(one_line)]) == "http://ftp.example.org/debian"
    assert baseimage.debian_mirror([str(tmp_path / "missing")]) == baseimage.DEFAULT_MIRROR


def test_rootfs_tag_is_stable_and_order_free():
    a = baseimage.rootfs_tag("bookworm", ("git", "python3"))
    assert a == baseimage.rootfs_tag("bookworm", ("python3", "git")) and a.startswith("srl-agent/rootfs:bookworm-")
    assert a != baseimage.rootfs_tag("bullseye", ("git", "python3"))


def test_build_base_needs_root_and_debootstrap(monkeypatch):
    monkeypatch.setattr(baseimage, "image_exists", lambda client, tag: False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(UserError, match="debootstrap needs root"):
        baseimage.build_rootfs_image(None, "bookworm", ("git",), "http://x/debian", print)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(baseimage.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="debootstrap not found"):
        baseimage.build_rootfs_image(None, "bookworm", ("git",), "http://x/debian", print)


def test_cli_help_does_not_import_docker():
    import subprocess

    code = "import sys; from srl_agent.cli import build_parser; build_parser(); print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.docker
def test_ensure_image_is_cached_by_content(tmp_path, monkeypatch):
    from srl_agent.sandbox import images
    from srl_agent.sandbox.docker import docker_client

    base = base_image()
    dockerfile = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY data.txt /data.txt\n"
    ctx = _ctx(tmp_path, dockerfile)
    tags = []
    try:
        tag = build_image(ctx, "srl-agent/test-cache", build_args={"BASE_IMAGE": base})
        tags.append(tag)
        built = []
        monkeypatch.setattr(images, "_build", lambda *a: built.append(a))
        assert build_image(ctx, "srl-agent/test-cache", build_args={"BASE_IMAGE": base}) == tag and not built
        (ctx / "data.txt").write_text("changed")
        monkeypatch.undo()
        tag2 = build_image(ctx, "srl-agent/test-cache", build_args={"BASE_IMAGE": base})
        tags.append(tag2)
        assert tag2 != tag
        out = docker_client().containers.run(tag2, ["cat", "/data.txt"], remove=True, network_mode="none")
        assert out == b"changed"
        (ctx / "Dockerfile").write_text(dockerfile + "RUN exit 3\n")
        with pytest.raises(SandboxError, match="RUN exit 3"):
            build_image(ctx, "srl-agent/test-cache", build_args={"BASE_IMAGE": base})
    finally:
        for t in tags:
            docker_client().images.remove(t, force=True)


@pytest.mark.docker
def test_base_image_has_offline_python_toolchain():
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.docker import DockerSandbox

    with DockerSandbox(SandboxConfig(image=base_image())) as sb:
        r = sb.run("python -c 'import pytest, sys; print(sys.version_info[:2])'; git --version; patch --version | head -1")
        assert r.exit_code == 0 and "(3, " in r.output and "git version" in r.output and "patch" in r.output
        assert sb.run("echo $PIP_NO_INDEX $PIP_FIND_LINKS").output == "1 /wheels\n"
