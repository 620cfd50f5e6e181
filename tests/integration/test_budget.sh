#!/bin/sh
# test_budget.sh: rate limits and token budgets on LLM calls.  AIRLOCK_RATE
# refuses calls past the rate with the provider's 429 error; a state file
# (AIRLOCK_LIMITS_FILE) shares the count between processes (one curl per
# call); AIRLOCK_BUDGET_TOKENS refuses calls once the tokens the replies
# reported reach the budget; monitor mode only records; a value that does
# not parse fails closed; the policy file sets the same.  A rate refusal
# carries Retry-After (whole seconds, rounded up) and retry-after-ms through
# the libcurl, OpenSSL and plain-socket layers, so SDKs back off for as long
# as needed; a spent budget carries no Retry-After but x-should-retry: false
# (no wait helps), so the OpenAI and Anthropic SDKs do not retry it.
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
        -D "$T/$name.hdr" -H 'content-type: application/json' -w '\n%{http_code}\n' -d "$body" \
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
# 2/min: one call every 30 s, so the wait is 1-30 s, and the message says the same number
ra=$(tr -d '\r' < "$T/rate3.hdr" | sed -n 's/^Retry-After: \([0-9]*\)$/\1/p')
ms=$(tr -d '\r' < "$T/rate3.hdr" | sed -n 's/^retry-after-ms: \([0-9]*\)$/\1/p')
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 30 ] && [ -n "$ms" ] && [ "$ms" -le $((ra * 1000)) ] &&
    [ "$ms" -gt $(((ra - 1) * 1000)) ] && grep -q "retry in $ra s" "$T/rate3.out" &&
    ok "libcurl: the rate's 429 carries Retry-After: $ra (whole seconds, rounded up) and retry-after-ms: $ms" ||
    fail "rate Retry-After (curl)" "$(cat "$T/rate3.hdr" "$T/rate3.out")"
grep -qi '^x-should-retry' "$T/rate3.hdr" && fail "rate x-should-retry" "$(cat "$T/rate3.hdr")" ||
    ok "libcurl: the rate's 429 leaves retrying to the client"

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

# the OpenSSL layer (requests) and the plain-socket layer (http.client on
# plain HTTP): the same headers on the synthesized 429
cat > "$T/headers.py" <<'EOF'
import http.client, json, os, sys
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Name a primary colour."}]})
if sys.argv[1] == "tls":
    import requests
    s = requests.Session()
    rs = [s.post("https://localhost:%s/v1/chat/completions" % sys.argv[2], data=body, verify=os.environ["CA"],
                 headers={"content-type": "application/json"}) for _ in range(2)]
    r = rs[-1]
    print(r.status_code, r.reason.replace(" ", "_"), r.headers.get("Retry-After"),
          r.headers.get("retry-after-ms"), r.headers.get("x-should-retry"))
else:
    for i in range(2):
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]), timeout=10)
        c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        r = c.getresponse()
        r.read()
        c.close()
    print(r.status, r.reason.replace(" ", "_"), r.getheader("Retry-After"), r.getheader("retry-after-ms"),
          r.getheader("x-should-retry"))
EOF
env LD_PRELOAD="$SHIM" AIRLOCK_RATE=1/hour CA="$CA" $PY "$T/headers.py" tls "$TLS_PORT" > "$T/h_tls.out" 2>&1
env LD_PRELOAD="$SHIM" AIRLOCK_RATE=1/hour $PY "$T/headers.py" plain "$HTTP_PORT" > "$T/h_plain.out" 2>&1
for layer in tls plain; do
    read -r st why ra ms xs < "$T/h_$layer.out"
    [ "$st $why $xs" = "429 Too_Many_Requests None" ] && [ "$ra" -ge 3595 ] 2>/dev/null && [ "$ra" -le 3600 ] &&
        [ "$ms" -le $((ra * 1000)) ] && [ "$ms" -gt $(((ra - 1) * 1000)) ] &&
        ok "$layer: 429 Too Many Requests with Retry-After: $ra and retry-after-ms: $ms for a 1/hour rate" ||
        fail "Retry-After ($layer)" "$(cat "$T/h_$layer.out")"
done

# a token budget: the replies report usage; the call that crosses it completes, the next is refused
for i in 1 2 3 4; do call tok$i /v1/messages "$ABODY" AIRLOCK_BUDGET_TOKENS=100 AIRLOCK_LIMITS_FILE="$T/budget"; done
used=$(awk '{print $5}' "$T/budget")
[ "$(status tok1)" = 200 ] && ok "calls under the budget go through" || fail "budget ok" "$(cat "$T/tok1.out")"
n200=0
for i in 1 2 3 4; do [ "$(status tok$i)" = 200 ] && n200=$((n200 + 1)); done
[ "$(status tok4)" = 429 ] && grep -q '"type":"error".*token budget spent' "$T/tok4.out" &&
    ok "once the budget is spent the next call gets an Anthropic-shaped 429" || fail "budget 429" "$(cat "$T/tok4.out")"
tr -d '\r' < "$T/tok4.hdr" | grep -qx 'x-should-retry: false' && ! grep -qi '^retry-after' "$T/tok4.hdr" &&
    ok "a spent budget's 429 has no Retry-After (no wait helps) and says x-should-retry: false" ||
    fail "budget headers" "$(cat "$T/tok4.hdr")"
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
