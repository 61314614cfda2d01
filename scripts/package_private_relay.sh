#!/usr/bin/env bash
# Builds the private-relay install: dist/webchat-private-relay/ and dist/webchat-private-relay.tar.gz
# (sources, the relay's bundle, lockfile, .env.example, start_relay.sh, systemd units, docs). On the target box:
#   tar -xzf webchat-private-relay.tar.gz && cd webchat-private-relay
#   npm ci --omit=dev && cp .env.example .env.local && ./start_relay.sh
# Usage: scripts/package_private_relay.sh [OUTPUT_DIR]   (default: dist/ in the checkout)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
name=webchat-private-relay
stage=$out/$name
rm -rf "$stage" "$out/$name.tar.gz"
mkdir -p "$stage"
cd "$root"

# The browser app ships built (web/dist) and the relay bundled (dist/relay.mjs, what
# start_relay.sh runs), so the box needs no build step.
node --import tsx scripts/build.ts

# What the relay, the CLI and the bridge run from; tests, CI and benchmarks stay behind.
for f in package.json package-lock.json tsconfig.json README.md .env.example; do
  cp "$f" "$stage/"
done
for d in daemon actors journal http scripts systemd docs web phone-bridge; do
  if [ -d "$d" ]; then cp -R "$d" "$stage/"; fi
done
rm -rf "$stage/scripts/bench"
# Never ship installed modules, local data or build caches from the checkout.
find "$stage" \( -name node_modules -o -name data -o -name pchat_uploads -o -name .env.local \) -prune -exec rm -rf {} +
cp scripts/start_relay.sh "$stage/start_relay.sh"
mkdir -p "$stage/dist"
cp dist/relay.mjs dist/relay.mjs.map dist/relay.meta.json "$stage/dist/"
chmod +x "$stage/start_relay.sh" "$stage"/scripts/*.sh "$stage/scripts/private_relay_link" "$stage/scripts/webchat-cli.mjs" "$stage/scripts/run-ts.mjs"

# Reproducible-ish archive: sorted names, no owner, fixed mtime from the last commit if known.
mtime=$(git -C "$root" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" -C "$out" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name/"
echo "$out/$name.tar.gz"
