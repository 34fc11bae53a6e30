"""Docker hosts: the `--docker-hosts` spec (URLs or a TOML/YAML hosts file) and a client for each host.

    --docker-hosts unix:///var/run/docker.sock,ssh://me@box2=16,tcp://box3:2376
    --docker-hosts hosts.toml        [[host]] url = "ssh://me@box2"  capacity = 16  labels = {rack = "b"}
                                     (tls_dir = "~/.docker/box3" for tcp:// with TLS: ca.pem, cert.pem, key.pem)

Placement and host failures are in srl_agent.sandbox.pool; image readiness in srl_agent.sandbox.image_transfer.
Without `--docker-hosts` nothing here is used: sandboxes run on the default daemon, as before.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError

LOCAL = "local"  # the default daemon: DOCKER_HOST, else the default socket


@dataclass(frozen=True, slots=True)
class DockerHost:
    url: str
    """`local`, unix:///path.sock, ssh://user@host (uses the `ssh` binary and ~/.ssh/config), tcp://host:port."""
    capacity: int | None = None
    """Sandboxes at once on this host; None: the daemon's CPU count."""
    labels: tuple[tuple[str, str], ...] = ()
    """Free-form (name, value) pairs, reported in the run's host table and put on the host's containers."""
    tls_dir: str | None = None
    """tcp:// with TLS: a folder with ca.pem, cert.pem and key.pem (the layout of docker's DOCKER_CERT_PATH)."""


# ---------------------------------------------------------------------------------------------------------------
# The spec


def parse_hosts(spec: str) -> tuple[DockerHost, ...]:
    """`--docker-hosts`: a .toml/.yaml/.yml hosts file, or comma-separated `URL[=CAPACITY]`."""
    spec = spec.strip()
    if spec.endswith((".toml", ".yaml", ".yml")):
        return load_hosts_file(Path(spec))
    hosts = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        url, _, cap = item.rpartition("=") if item.rpartition("=")[2].isdigit() else (item, "", "")
        hosts.append(_host(url, int(cap) if cap else None, (), None, f"--docker-hosts {item!r}"))
    if not hosts:
        raise UserError("--docker-hosts is empty: give URLs (unix:///…, ssh://user@host, tcp://host:2376) or a hosts file")
    return _unique(hosts, "--docker-hosts")


def load_hosts_file(path: Path) -> tuple[DockerHost, ...]:
    """`[[host]]` tables (TOML) or a `host:` list (YAML) with url, capacity, labels, tls_dir."""
    if not path.is_file():
        raise UserError(f"--docker-hosts {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - any parser error is the user's file: one line, with the file
        raise UserError(f"{path}: cannot parse hosts file ({type(e).__name__}: {e})") from None
    rows = data.get("host") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise UserError(f"{path}: expected a list of hosts under `host` ([[host]] tables in TOML), each with a url")
    hosts = []
    for i, row in enumerate(rows):
        where = f"{path}: host #{i + 1}"
        unknown = set(row) - {"url", "capacity", "labels", "tls_dir"} if isinstance(row, dict) else {"?"}
        if unknown or not isinstance(row.get("url"), str):
            raise UserError(f"{where}: needs a string `url`; known keys are url, capacity, labels, tls_dir"
                            + (f" (unknown: {sorted(unknown)})" if unknown else ""))
        labels = tuple(sorted((str(k), str(v)) for k, v in (row.get("labels") or {}).items()))
        tls_dir = str(Path(row["tls_dir"]).expanduser()) if row.get("tls_dir") else None
        hosts.append(_host(row["url"], row.get("capacity"), labels, tls_dir, where))
    return _unique(hosts, str(path))


def _host(url: str, capacity: Any, labels: tuple, tls_dir: str | None, where: str) -> DockerHost:
    if url != LOCAL and not url.startswith(("unix://", "ssh://", "tcp://", "http://", "https://")):
        raise UserError(f"{where}: {url!r} is not a Docker host URL; use local, unix:///path.sock, ssh://user@host "
                        "or tcp://host:2376")
    if capacity is not None and (not isinstance(capacity, int) or capacity < 1):
        raise UserError(f"{where}: capacity must be a whole number >= 1, got {capacity!r}")
    if tls_dir is not None and not all((Path(tls_dir) / f).is_file() for f in ("ca.pem", "cert.pem", "key.pem")):
        raise UserError(f"{where}: tls_dir {tls_dir} must hold ca.pem, cert.pem and key.pem")
    return DockerHost(url, capacity, labels, tls_dir)


def _unique(hosts: list[DockerHost], where: str) -> tuple[DockerHost, ...]:
    urls = [h.url for h in hosts]
    dupes = sorted({u for u in urls if urls.count(u) > 1})
    if dupes:
        raise UserError(f"{where}: host(s) listed twice: {', '.join(dupes)}")
    return tuple(hosts)


def connect(host: DockerHost, timeout: float = 120.0) -> Any:
    """A docker SDK client for the host (not yet pinged)."""
    import docker

    if host.url == LOCAL:
        return docker.from_env(max_pool_size=64, timeout=timeout)
    tls = None
    if host.tls_dir:
        d = Path(host.tls_dir)
        tls = docker.tls.TLSConfig(client_cert=(str(d / "cert.pem"), str(d / "key.pem")), ca_cert=str(d / "ca.pem"),
                                   verify=True)
    if tls is None:
        return docker.DockerClient(base_url=host.url, timeout=timeout, max_pool_size=64,
                                   use_ssh_client=host.url.startswith("ssh://"))
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on many machines) override the session's CA, so the
    # host's own ca.pem would be ignored and its certificate refused: the client must not read the environment, and
    # the API version is negotiated after that (the SDK would ask at construction, before we can say so).
    client = docker.DockerClient(base_url=host.url, tls=tls, timeout=timeout, max_pool_size=64, version="1.24")
    client.api.trust_env = False
    client.api._version = client.api.version(api_version=False)["ApiVersion"]
    return client
