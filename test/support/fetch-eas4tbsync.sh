#!/usr/bin/env bash
# Fetches Thunderbird's EAS client, EAS-4-TbSync, from Debian (package webext-eas4tbsync) into
# .cache/eas4tbsync for the TbSync compatibility tests (test/e2e/tbsync.test.ts). The package is
# downloaded and unpacked, not installed: installing it would pull in Thunderbird.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.cache/eas4tbsync
if [ -f "$dest/content/includes/network.js" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download webext-eas4tbsync >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download webext-eas4tbsync
fi
dpkg-deb -x webext-eas4tbsync_*.deb unpacked
cd - >/dev/null
mkdir -p "$dest.part"
python3 -m zipfile -e "$work"/unpacked/usr/share/webext/eas4tbsync@jobisoft.de.xpi "$dest.part"
rm -rf "$dest"
mv "$dest.part" "$dest"
echo "EAS-4-TbSync $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$dest/manifest.json") in $dest"
