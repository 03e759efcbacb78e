#!/usr/bin/env bash
# A real browser for the report tests: Debian's chromium-headless-shell, installed once when run as root (apt needs
# the network: run it before entering a network namespace). Without root nothing happens and those tests skip
# with the reason.
set -euo pipefail
if command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "browser.sh: no chromium and not root with apt: the browser tests will skip" >&2
  exit 0
fi
log=/tmp/browser-apt.$$.log
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium-headless-shell; } >"$log" 2>&1; then
  echo "browser.sh: apt-get install chromium-headless-shell failed (log $log): the browser tests will skip" >&2
fi
exit 0
