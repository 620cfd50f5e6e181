#!/bin/sh
# test_budget.sh: rate limits and token budgets on LLM calls.  AIRLOCK_RATE
# refuses calls past the rate with the provider's 429 error; a state file
# (AIRLOCK_LIMITS_FILE) shares the count between processes (one curl per
# call); AIRLOCK_BUDGET_TOKENS refuses calls once the tokens the replies
# reported reach the budget; monitor mode only records; a value that does
# not parse fails closed; the policy file sets the same.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'stop_mock; rm -rf "$T"' EXIT
start_mock
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Name a primary colour."}]}'
ABODY='{"model":"claude-3-5-haiku-latest","max_tokens":64,"messages":[{"role":"user","content":"Name a primary colour."}]}'

call() { # call NAME PATH BODY VAR=VALUE...: one curl process under the shim
    name=$1
    path=$2
    body=$3
    shift 3
    env LD_PRELOAD="$SHIM" AIRLOCK_AUDIT="$T/audit.jsonl" "$@" curl -sS --max-time 10 --cacert "$CA" \
        -H 'content-type: application/json' -w '\n%{http_code}\n' -d "$body" \
        "https://localhost:$TLS_PORT$path" > "$T/$name.out" 2> "$T/$name.err"
}
status() { tail -n 1 "$T/$1.out"; }

# a rate shared by three processes through the state file
for i in 1 2 3; do call rate$i /v1/chat/completions "$BODY" AIRLOCK_RATE=2/min AIRLOCK_LIMITS_FILE="$T/limits"; done
[ "$(status rate1)" = 200 ] && [ "$(status rate2)" = 200 ] && ok "calls within the rate go through" ||
    fail "rate ok" "$(status rate1) $(status rate2)"
[ "$(status rate3)" = 429 ] && grep -q '"error":{"message":"airlock: rate limit reached (AIRLOCK_RATE); retry in [0-9]* s"' "$T/rate3.out" &&
    ok "the call past the rate gets an OpenAI-shaped 429 saying when to retry" || fail "rate 429" "$(cat "$T/rate3.out")"
grep '"limit.rate"' "$T/audit.jsonl" | grep -q '"blocked":true' && ok "the audit log records the rate refusal" ||
    fail "rate audit" "$(cat "$T/audit.jsonl")"

# in one process (a requests Session), no state file
cat > "$T/session.py" <<'EOF'
import json, os, sys
import requests
s = requests.Session()
s.verify = os.environ["CA"]
codes = [s.post(sys.argv[1], verify=os.environ["CA"], json={"model": "gpt-4o-mini",
         "messages": [{"role": "user", "content": "Name a primary colour."}]}).status_code for _ in range(3)]
print(" ".join(map(str, codes)))
EOF
env LD_PRELOAD="$SHIM" AIRLOCK_RATE=2/hour CA="$CA" $PY "$T/session.py" "https://localhost:$TLS_PORT/v1/chat/completions" > "$T/session.out" 2>&1
grep -qx '200 200 429' "$T/session.out" && ok "one process is held to the rate without a state file" ||
    fail "session" "$(cat "$T/session.out")"

# a token budget: the replies report usage; the call that crosses it completes, the next is refused
for i in 1 2 3 4; do call tok$i /v1/messages "$ABODY" AIRLOCK_BUDGET_TOKENS=100 AIRLOCK_LIMITS_FILE="$T/budget"; done
used=$(awk '{print $5}' "$T/budget")
[ "$(status tok1)" = 200 ] && ok "calls under the budget go through" || fail "budget ok" "$(cat "$T/tok1.out")"
n200=0
for i in 1 2 3 4; do [ "$(status tok$i)" = 200 ] && n200=$((n200 + 1)); done
[ "$(status tok4)" = 429 ] && grep -q '"type":"error".*token budget spent' "$T/tok4.out" &&
    ok "once the budget is spent the next call gets an Anthropic-shaped 429" || fail "budget 429" "$(cat "$T/tok4.out")"
[ "$used" -ge 100 ] && [ "$n200" -ge 2 ] && [ "$n200" -le 3 ] &&
    ok "the state file counts the tokens the replies reported ($used after $n200 calls)" || fail "budget count" "used=$used n200=$n200"

# monitor mode: recorded, not refused
for i in 1 2 3; do call mon$i /v1/chat/completions "$BODY" AIRLOCK_RATE=1/min AIRLOCK_LIMITS_FILE="$T/mon" AIRLOCK_MODE=monitor; done
[ "$(status mon3)" = 200 ] && grep '"limit.rate"' "$T/audit.jsonl" | grep -q '"would_block":true' &&
    ok "monitor mode lets calls past the rate through and records would_block" || fail "monitor" "$(cat "$T/mon3.out")"

# a rate that does not parse: fail closed, and say why
before=$(mock_requests)
call badrate /v1/chat/completions "$BODY" AIRLOCK_RATE="60 a minute"
[ "$(status badrate)" = 403 ] && grep -q "AIRLOCK_RATE: '60 a minute' is not a rate" "$T/badrate.err" &&
    [ "$(mock_requests)" = "$before" ] && ok "an unreadable rate fails closed and says why" ||
    fail "bad rate" "$(status badrate) $(cat "$T/badrate.err")"

# the policy file sets the same
printf '{"rate": "1/hour", "limits_file": "pl.state"}' > "$T/policy.json"
call pol1 /v1/chat/completions "$BODY" AIRLOCK_POLICY="$T/policy.json"
call pol2 /v1/chat/completions "$BODY" AIRLOCK_POLICY="$T/policy.json"
[ "$(status pol1)" = 200 ] && [ "$(status pol2)" = 429 ] && [ -s "$T/pl.state" ] &&
    ok "rate and state file from the policy file apply across processes" || fail "policy" "$(status pol1) $(status pol2)"

finish
