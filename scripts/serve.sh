#!/usr/bin/env bash
# Install Headset into .venv and run the server (embedded SQLite, self-signed
# certificate, first admin printed on the first run). Extra arguments go to
# `headset`, e.g. `--config headset.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
ensure_venv ""
exec .venv/bin/headset "$@" serve
