#!/usr/bin/env bash
# Makes sure the proxies the network tests run through are here: Debian's tinyproxy and
# mitmproxy (mitmdump), for test/network/*.test.ts. Runs before `npm test` (the pretest script),
# so a fresh CI machine gets them. It installs them only through apt-get.
set -euo pipefail

missing=()
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || [ -x /usr/sbin/tinyproxy ] || missing+=(tinyproxy)
command -v mitmdump >/dev/null 2>&1 || missing+=(mitmproxy)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-proxies: ${missing[*]} missing and this is not root; install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-proxies: ${missing[*]} missing and there is no apt-get; install Debian's ${missing[*]}" >&2
  exit 1
fi

echo "ensure-proxies: installing ${missing[*]} (apt-get update; apt-get install -y ${missing[*]})"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "${missing[@]}"
# The Debian package starts tinyproxy as a service on port 8888; the tests run their own.
if [[ " ${missing[*]} " == *" tinyproxy "* ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now tinyproxy >/dev/null 2>&1 || true
fi
echo "ensure-proxies: installed ${missing[*]}"
