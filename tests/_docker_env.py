"""Docker availability for the sandbox tests: skip when the engine is unreachable, except in CI (env CI set), where a
skipped Docker test would hide a broken setup, so it fails instead."""

from __future__ import annotations

import os

import pytest


def require_docker() -> None:
    from srl_agent.errors import UserError
    from srl_agent.sandbox.docker import docker_client

    try:
        docker_client()
    except UserError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Docker tests: {e}")
        pytest.skip(str(e))


def base_image() -> str:
    """The base image tag, built on first use (offline: needs root + debootstrap, about a minute)."""
    from srl_agent.sandbox.baseimage import BASE_LATEST, ensure_base_image
    from srl_agent.sandbox.docker import docker_client
    from srl_agent.sandbox.images import image_exists

    require_docker()
    if not image_exists(docker_client(), BASE_LATEST):
        ensure_base_image(log=lambda _: None)
    return BASE_LATEST
