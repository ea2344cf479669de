#!/usr/bin/env bash
# Install the Debian packages whose real tools the tests run (promtool, cloud-init, shellcheck…).
# Idempotent: packages already installed are left alone, and apt is asked nothing when every one is.
# Where apt-get cannot be used (not root, no apt), it says so and exits 0: the tests that need a
# missing tool then skip with the reason — and under CI=true they fail instead (tests/tooling.py).
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "install_debian: cannot install ${missing[*]} (needs apt-get as root); tests that use them will skip" >&2
  exit 0
fi
echo "install_debian: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || echo "install_debian: apt-get install ${missing[*]} failed; tests that use them will skip" >&2
exit 0
