#!/usr/bin/env bash
# Makes sure a Rust toolchain new enough for PyO3 0.30 (rustc >= 1.85) is on PATH.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if command -v cargo >/dev/null && command -v rustc >/dev/null; then
  exit 0
fi
echo "ensure-rust: cargo not found; trying Debian's rustc/cargo packages" >&2
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo rustc >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "ensure-rust: no Rust toolchain; install one with rustup (rustc >= 1.85) and re-run" >&2
  exit 1
fi
