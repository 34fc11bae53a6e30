"""The shared Docker client: one pooled, thread-safe connection to the engine for sandboxes, images and cleanup."""

from __future__ import annotations

import threading

_client = None
_client_lock = threading.Lock()


def docker_client():
    """A shared Docker client (thread-safe, pooled). Raises UserError when the engine is unreachable."""
    global _client
    with _client_lock:
        if _client is None:
            import docker
            from srl_agent.errors import UserError

            try:
                c = docker.from_env(max_pool_size=64, timeout=120)
                c.ping()
            except docker.errors.DockerException as e:
                raise UserError(
                    f"Docker engine not reachable ({e}): start dockerd (e.g. `sudo dockerd > /tmp/dockerd.log 2>&1 &`"
                    " or `sudo systemctl start docker`), or run .ci/docker-setup.sh"
                ) from None
            _client = c
        return _client
