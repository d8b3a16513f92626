#!/usr/bin/env bash
# Makes sure the redis-server the Redis engine's tests start is here: Debian's redis-server
# package (test/support/redis-server.ts starts one per test file on a free loopback port). Runs
# before `npm test` (the pretest script), so a fresh CI machine gets it.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-redis: redis-server is missing and this is not root; install it with: sudo apt-get install -y redis-server" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is missing and there is no apt-get; install Debian's redis-server package" >&2
  exit 1
fi

echo "ensure-redis: redis-server is missing; installing Debian's redis-server (apt-get update; apt-get install -y redis-server)"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# --no-install-recommends: only the server binary is needed; no service is started by the tests' use.
apt-get install -y --no-install-recommends redis-server
if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: apt-get finished but redis-server is still missing" >&2
  exit 1
fi
echo "ensure-redis: installed $(redis-server --version)"
