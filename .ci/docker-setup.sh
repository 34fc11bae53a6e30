#!/usr/bin/env bash
# Idempotent Docker setup for CI (and any Debian machine as root): install the engine and debootstrap if missing,
# start dockerd if it is not running, build the offline sandbox base image (cached by content hash).
# Needs the project venv (.venv, from `make install`) for `srl-agent env build-base`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# openssl: tests/test_docker_hosts.py starts a second dockerd itself (as root) with a throwaway TLS certificate.
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v openssl >/dev/null; then
  echo "docker-setup: installing docker.io, debootstrap and openssl"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io debootstrap openssl >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "docker-setup: starting dockerd (log: /tmp/dockerd.log)"
  # shellcheck disable=SC2024  # the log belongs to the invoking user
  $SUDO nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "docker-setup: dockerd did not come up; last log lines:" >&2
    tail -20 /tmp/dockerd.log >&2
    exit 1
  fi
fi

PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
$SUDO "$PY" -m srl_agent.cli env build-base
echo "docker-setup: done in $(($(date +%s) - start)) s"
