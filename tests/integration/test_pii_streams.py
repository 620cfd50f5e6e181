#!/usr/bin/python3
"""test_pii_streams.py: personal data a model writes in forms the pattern
rules once missed reaches a real client replaced, whole and streamed: an
e-mail address with letters outside ASCII (jürgen.müller@example.com was
cut after its last such letter; 张伟@例子.中国 was not found) and a card
number or SSN with a zero-width space, soft hyphen or word joiner inside
it.  A Python requests client under the shim asks the mock to echo its
prompt (the prompt's invisible characters are let through with
AIRLOCK_PROMPT_SANITIZE=allow, so the completion carries them), as a whole
reply and as an SSE stream of small deltas."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import Mock, Results, echo_replies, shim_env  # noqa: E402

PROMPT = ("Kontakt: j\u00fcrgen.m\u00fcller@example.com oder jos\u00e9@caf\u00e9.fr; "
          "\u5199\u4fe1\u7ed9 \u5f20\u4f1f@\u4f8b\u5b50.\u4e2d\u56fd. "
          "Card 4111 \u200b1111 1111 1111, pan 5555\u00ad5555\u20605555\u200c4444, "
          "SSN 536-22-\u200d1234. Thanks \u2705 done.")
RAW = ["j\u00fcrgen", "m\u00fcller", "jos\u00e9", "\u5f20\u4f1f", "4111", "1111 1111",
       "5555", "4444", "536-22", "1234"]
WANT = ["Kontakt: <EMAIL_ADDRESS> oder <EMAIL_ADDRESS>;", "\u5199\u4fe1\u7ed9 <EMAIL_ADDRESS>.",
        "Card <CREDIT_CARD>, pan <CREDIT_CARD>,", "SSN <US_SSN>.", "Thanks \u2705 done."]


def main():
    r = Results()
    with Mock() as m:
        env = shim_env(m.env(), AIRLOCK_PROMPT_SANITIZE="allow")
        got, err = echo_replies(m, env, PROMPT)
        if got is None:
            r.check("client ran", False, err)
            r.finish()
        sent = [q for q in m.requests() if q.get("path", "").endswith("/chat/completions")]
        # the test means something only when the mock got the characters to echo
        r.check("the prompt reached the server with its zero-width space and addresses",
                len(sent) == 2 and all("\\u200b" in q.get("body", "") or "\u200b" in
                                       q.get("body", "") for q in sent),
                "%d requests" % len(sent))
        for kind in ("whole", "stream"):
            status, text = got[kind]
            r.check("%s reply: status 200" % kind, status == 200, str(status))
            left = [v for v in RAW if v in text]
            r.check("%s reply: no part of the split card, SSN or non-ASCII address reaches the "
                    "client" % kind, text and not left, "%d raw pieces left" % len(left))
            miss = [w for w in WANT if w not in text]
            r.check("%s reply: each value is one placeholder and the text around it stays" % kind,
                    not miss, "%d expected pieces missing" % len(miss))
    r.finish()


if __name__ == "__main__":
    main()
