#!/usr/bin/env bash
# Idempotent browser setup for CI (and any Debian machine as root): Debian's `chromium`, run headless by
# tests/test_replay_html.py to open the page `srl-agent replay --html` writes, dump its DOM and take a screenshot.
# A font package comes with it: without one, a headless screenshot has no glyphs and the test sees a blank page.
set -euo pipefail
start=$(date +%s)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

have_font() { command -v fc-list >/dev/null && [ -n "$(fc-list 2>/dev/null | head -1)" ]; }

if command -v chromium >/dev/null && chromium --version >/dev/null 2>&1 && have_font; then
  echo "browser-setup: $(chromium --version 2>/dev/null | tail -1) already installed"
  exit 0
fi

echo "browser-setup: installing chromium and fonts-dejavu-core"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
chromium --version 2>/dev/null | tail -1
echo "browser-setup: done in $(($(date +%s) - start)) s"
