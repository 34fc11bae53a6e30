"""`srl-agent replay PATH --html OUT.html`: a self-contained page, checked in headless Chromium (Debian `chromium`,
installed by .ci/browser-setup.sh): the DOM after scripts ran holds every step, and a screenshot shows them."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from replaykit import EPISODES, SAMPLES, fixture_episodes

from srl_agent.cli import main
from srl_agent.episodes import write_episode

SHOTS = Path(os.environ.get("SRL_REPLAY_SHOTS", Path(__file__).resolve().parents[1] / "runs" / "replay"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have chromium: run .ci/browser-setup.sh")
        pytest.skip("chromium not installed (apt-get install -y chromium, or .ci/browser-setup.sh)")
    return exe


def browse(page: Path, tmp: Path, *args: str) -> str:
    proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG, as Chromium writes them."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6)
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(kind)
            if pred is None:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_html_page_renders_every_step_in_chromium(tmp_path):
    page = SHOTS / "episodes.html"
    assert main(["replay", str(EPISODES), "--html", str(page)]) == 0
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "src=" not in html  # nothing to fetch
    dom = browse(page, tmp_path, "--dump-dom", "--virtual-time-budget=3000")
    steps = sum(len(ep.turns) for ep in fixture_episodes())
    assert f"{steps} steps rendered" in dom  # written by the page's script: the JS ran over the whole DOM
    assert dom.count('class="step') == steps and "4 of 4 shown" in dom
    assert "swe-mini__tabletext-1" in dom and "<del>" in dom and "<ins>" in dom  # policy-vs-expert diffs

    shot = SHOTS / "episodes.png"
    browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars")
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1280, 1600)
    colors = {row[i : i + 3] for row in rows[::8] for i in range(0, len(row), 24)}
    assert len(colors) > 20, "the screenshot is blank or nearly so"
    ink = sum(1 for row in rows[200::4] for i in range(0, len(row), 12) if max(row[i : i + 3]) < 120)
    assert ink > 2000, "too little text on the page"


def test_html_escapes_everything_and_exports_samples(tmp_path):
    episode = fixture_episodes()[1]
    hostile = "</pre><script>document.title='pwned'</script><img src=x onerror=alert(1)>"
    turns = (episode.turns[0].__class__(**{**_fields(episode.turns[0]), "observation": hostile}),) + episode.turns[1:]
    path = tmp_path / "hostile.jsonl"
    write_episode(path, episode.__class__(**{**_fields(episode), "turns": turns, "instance_id": "<b>x</b>"}))
    page = tmp_path / "hostile.html"
    assert main(["replay", str(path), "--html", str(page)]) == 0
    html = page.read_text()
    assert "<script>document" not in html and "&lt;script&gt;document.title" in html and "<b>x</b>" not in html
    dom = browse(page, tmp_path, "--dump-dom", "--virtual-time-budget=2000")
    assert "pwned" not in dom.split("<title>")[1].split("</title>")[0]

    samples = tmp_path / "samples.html"
    assert main(["replay", str(SAMPLES), "--html", str(samples), "--limit", "2"]) == 0
    text = samples.read_text()
    assert text.count('class="episode"') == 2 and "policy vs expert" in text and "format error" in text


def _fields(obj) -> dict:
    return {name: getattr(obj, name) for name in obj.__slots__}
