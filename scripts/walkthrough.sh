#!/usr/bin/env bash
# The README's curl walk-through, runnable (and re-runnable on the same relay): login two users, presence, directory, send,
# long-poll, read receipts, conversations, one bad request. Needs a relay started with
# PCHAT_DEV_EXPOSE_CODES=true (so request-code returns dev_code) at $RELAY_URL.
set -euo pipefail
RELAY_URL=${RELAY_URL:-http://127.0.0.1:5110}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
show() { printf '$ %s\n' "$1"; eval "$1"; printf '\n\n'; }
# A step with no output of its own (taking the token out of the answer).
step() { printf '$ %s\n\n' "$1"; eval "$1"; }
for _ in $(seq 1 100); do curl -sf "$RELAY_URL/health" >/dev/null && break; sleep 0.1; done

show "curl -s \$RELAY_URL/health"
show "curl -s -X POST \$RELAY_URL/api/v1/pchat/auth/request-code -H 'Content-Type: application/json' -d '{\"email\":\"agent@example.com\",\"display_name\":\"Codex Agent\",\"purpose\":\"login\"}' | tee /tmp/pchat-code.json"
CODE=$(json '["dev_code"]' < /tmp/pchat-code.json)
show "curl -s -X POST \$RELAY_URL/api/v1/pchat/auth/verify-code -H 'Content-Type: application/json' -d '{\"email\":\"agent@example.com\",\"code\":\"$CODE\",\"display_name\":\"Codex Agent\",\"chat_address\":\"codex-agent\",\"public_visible\":true}' | tee /tmp/pchat-agent.json"
step "AGENT=\$(python3 -c 'import json,sys; print(json.load(sys.stdin)[\"session_token\"])' < /tmp/pchat-agent.json)"
# The human, Alex, logs in the same way.
CODE=$(curl -s -X POST "$RELAY_URL/api/v1/pchat/auth/request-code" -H 'Content-Type: application/json' -d '{"email":"alex@example.com"}' | json '["dev_code"]')
show "curl -s -X POST \$RELAY_URL/api/v1/pchat/auth/verify-code -H 'Content-Type: application/json' -d '{\"email\":\"alex@example.com\",\"code\":\"$CODE\",\"chat_address\":\"alex\",\"display_name\":\"Alex\"}' | tee /tmp/pchat-alex.json"
step "ME=\$(python3 -c 'import json,sys; print(json.load(sys.stdin)[\"session_token\"])' < /tmp/pchat-alex.json)"
export AGENT ME
# A fresh idempotency key per run, so the walk-through can be run again on the same relay.
KEY="hello-$(date +%s%N)"
show "curl -s -X POST \$RELAY_URL/api/v1/webchat/presence -H 'Content-Type: application/json' -H \"X-PChat-Session: \$AGENT\" -d '{\"chat_address\":\"codex-agent\",\"display_name\":\"Codex Agent\",\"visible\":true,\"device_name\":\"codex\",\"session_name\":\"support worker\",\"listen_channel\":\"pchat\"}'"
show "curl -s \$RELAY_URL/api/v1/webchat/directory -H \"X-PChat-Session: \$ME\""
show "curl -s -X POST \$RELAY_URL/api/v1/messages -H 'Content-Type: application/json' -H \"X-PChat-Session: \$ME\" -d '{\"channel\":\"pchat\",\"source\":\"alex\",\"to\":\"codex-agent\",\"text\":\"Hello from a human.\",\"idempotency_key\":\"$KEY\"}' | tee /tmp/pchat-sent.json"
MID=$(json '["message_id"]' < /tmp/pchat-sent.json)
show "curl -s -X POST \$RELAY_URL/api/v1/webchat/poll -H 'Content-Type: application/json' -H \"X-PChat-Session: \$AGENT\" -d '{\"chat_address\":\"codex-agent\",\"limit\":20,\"wait_ms\":25000}'"
show "curl -s -X POST \$RELAY_URL/api/v1/webchat/read -H 'Content-Type: application/json' -H \"X-PChat-Session: \$AGENT\" -d '{\"chat_address\":\"codex-agent\",\"message_ids\":[\"$MID\"]}'"
show "curl -s -X POST \$RELAY_URL/api/v1/webchat/receipt-status -H 'Content-Type: application/json' -H \"X-PChat-Session: \$ME\" -d '{\"message_ids\":[\"$MID\"]}'"
show "curl -s \$RELAY_URL/api/v1/webchat/conversations -H \"X-PChat-Session: \$ME\""
show "curl -s -X POST \$RELAY_URL/api/v1/messages -H 'Content-Type: application/json' -H \"X-PChat-Session: \$ME\" -d '{\"channel\":\"pchat\",\"to\":\"codex-agent\",\"text\":5}'"
