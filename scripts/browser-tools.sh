#!/bin/sh
# Installs what the monitor's browser tests drive on a Debian host (CI, as root): Debian's headless-capable
# chromium and its chromedriver, at /usr/bin/chromium and /usr/bin/chromedriver (tests/conftest.py).
# Idempotent: does nothing when both are there.
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/bin/chromedriver ] || missing="$missing chromium-driver"
[ -n "$missing" ] || exit 0
[ "$(id -u)" = 0 ] || { echo "browser-tools: error:$missing missing; run as root to install them" >&2; exit 1; }
echo "browser-tools: installing$missing"
apt-get update -qq
# fonts-liberation: text in the screenshots (a recommendation of chromium, whose others a headless run needs not)
# shellcheck disable=SC2086  # one package per word
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing fonts-liberation >/dev/null
