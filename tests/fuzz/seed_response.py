#!/usr/bin/python3
"""seed_response.py DIR: writes fuzz_response seeds into DIR, one per reply
fixture listed in tests/fixtures/exchange/streams.txt, prefixed with the
three bytes fuzz_response reads (request index, content type and status,
split seed) so the seed reaches the provider's stream parser with 200."""
import os
import sys

REQ = {"/v1/chat/completions": 1, "/v1/completions": 2, "/v1/responses": 3,
       "/v1/messages": 5, "/v1beta/models/g:streamGenerateContent?alt=sse": 7,
       "/v1beta/models/g:streamGenerateContent": 8, "/api/chat": 9, "/api/generate": 10}
CT = {"application/json": 0, "text/event-stream": 1, "application/x-ndjson": 2}
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "exchange")
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for line in open(os.path.join(root, "streams.txt")):
    if line.startswith("#") or "|" not in line:
        continue
    name, path, ct = line.split("|")[:3]
    if path not in REQ or ct not in CT:
        continue
    body = open(os.path.join(root, name), "rb").read()
    with open(os.path.join(out, "seed_" + name), "wb") as f:
        f.write(bytes([REQ[path], CT[ct], 7]) + body)
