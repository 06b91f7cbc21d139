"""How the tests start Debian's Chromium: headless, no background traffic, fake media."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def chromium_args(tone_file: Path | None = None) -> list[str]:
    """Flags for a headless, quiet Chromium whose microphone is ``tone_file`` (a WAV,
    looped) or Chromium's own beeping fake device when ``None``."""
    args = [
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        # The machine has no network: without these Chromium keeps trying to reach out.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        # The line worker's ICE candidates are on 127.0.0.1 in tests.
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if tone_file is not None:
        args.append(f"--use-file-for-fake-audio-capture={tone_file}")
    return args
