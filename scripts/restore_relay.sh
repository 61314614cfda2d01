#!/bin/sh
# restore of the relay's data dir (LMDB hot backup of the journal) and uploads; see backup_relay.ts.
here=$(cd "$(dirname "$0")" && pwd)
exec node "$here/run-ts.mjs" "$here/backup_relay.ts" restore "$@"
