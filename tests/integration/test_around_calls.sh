#!/bin/sh
# test_around_calls.sh: regressions found by probing the features around the
# LLM calls (policy file, egress, weights, limits, the airlock command) with
# real programs, as a user adopting airlock would.  Each check names what the
# user would have seen go wrong.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'stop_mock; rm -rf "$T"' EXIT

# ---- policy file: nothing a reviewer wrote may be silently dropped ----
mkdir -p "$T/pol"
printf '{"mode": "enforce"}\n{"egress": ["localhost"]}\n' > "$T/pol/two.json"
"$AIRLOCK" run --policy "$T/pol/two.json" -- true 2> "$T/two.err"
[ $? -eq 2 ] && grep -q 'two.json: policy: text after the JSON object' "$T/two.err" &&
    ok "a policy file with text after its object is refused, not half applied" ||
    fail "policy trailing text" "$(cat "$T/two.err")"
printf '{"prompt": {"pii": "redact", "pii": "allow"}}' > "$T/pol/dup.json"
"$AIRLOCK" run --policy "$T/pol/dup.json" -- true 2> "$T/dup.err"
[ $? -eq 2 ] && grep -q 'dup.json: prompt.pii: appears twice' "$T/dup.err" &&
    ok "a category repeated inside prompt/completion is an error naming it" ||
    fail "policy nested duplicate" "$(cat "$T/dup.err")"
printf '{"egress": ["api.openai.com", "*"]}' > "$T/pol/egress.json"
"$AIRLOCK" run --policy "$T/pol/egress.json" -- true 2> "$T/egress.err"
[ $? -eq 2 ] && grep -q "egress.json: egress: entry '\*'" "$T/egress.err" &&
    ok "an egress entry that cannot parse stops airlock run before the program starts" ||
    fail "policy egress entry" "$(cat "$T/egress.err")"

finish
