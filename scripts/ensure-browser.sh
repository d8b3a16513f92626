#!/usr/bin/env bash
# Makes sure the browser the end-to-end tests drive is here: Debian's chromium, through
# playwright-core (test/inspector-page/*.e2e.test.ts). Runs before `npm test` (the pretest script), so a
# fresh CI machine gets it. It never downloads a browser any other way (no `playwright install`).
set -euo pipefail

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-browser: $BROWSER is missing and this is not root; install it with: sudo apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browser: $BROWSER is missing and there is no apt-get; install Debian's chromium package" >&2
  exit 1
fi

echo "ensure-browser: $BROWSER is missing; installing Debian's chromium (apt-get update; apt-get install -y chromium)"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y chromium
if [ ! -x "$BROWSER" ]; then
  echo "ensure-browser: apt-get finished but $BROWSER is still missing" >&2
  exit 1
fi
echo "ensure-browser: installed $("$BROWSER" --version 2>/dev/null || echo chromium)"
