#!/bin/sh
# Starts the pChat relay from an unpacked webchat-private-relay tarball (or a checkout):
#   npm ci --omit=dev && ./start_relay.sh
# Configuration comes from the environment or .env.local beside this script (see .env.example).
# WEBCHAT_RELAY_PORT (the seed's name) is accepted as PORT.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/package.json" ] || here=$(cd "$here/.." && pwd)
cd "$here"
if [ -n "${WEBCHAT_RELAY_PORT:-}" ]; then PORT=$WEBCHAT_RELAY_PORT; export PORT; fi
if ! command -v node >/dev/null 2>&1; then
  echo "start_relay.sh: node not found; install Node.js 20.12 or newer" >&2
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=12)?0:1)'; then
  echo "start_relay.sh: Node.js $(node -v) is too old; 20.12 or newer is needed" >&2
  exit 1
fi
if [ ! -d node_modules/tsx ]; then
  echo "start_relay.sh: dependencies missing; run: npm ci --omit=dev" >&2
  exit 1
fi
# The esbuild bundle (dist/relay.mjs: shipped in the tarball, built by `npm start` in a
# checkout) starts several times faster than tsx on the sources; the sources run when it is
# missing or older than any of them (a checkout edited since the last build).
if [ -f dist/relay.mjs ] && [ -z "$(find daemon actors journal http package.json package-lock.json -newer dist/relay.mjs 2>/dev/null | head -n 1)" ]; then
  exec node --enable-source-maps dist/relay.mjs
fi
exec node --import tsx daemon/main.ts
