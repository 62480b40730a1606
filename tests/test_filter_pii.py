"""Personal-data redaction (curate.filter.pii): what is matched, what is not, and its invariants.

Counts are checked against an independent oracle: the same patterns run by Python's `re` (the
same leftmost-first semantics), whose `subn` counts each pass's replacements.
"""

from __future__ import annotations

import random
import re
import time

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.filter import pii
from curate.filter.pii import PII_KINDS, PLACEHOLDERS, count_exprs, redact_expr

EM, IP, PH = PLACEHOLDERS["email"], PLACEHOLDERS["ip"], PLACEHOLDERS["phone"]
COUNTS = [f"filter.pii.{k}" for k in PII_KINDS]


def run(texts: list[str | None], kinds: tuple[str, ...] = PII_KINDS) -> pl.DataFrame:
    """Exactly what the filter stage does."""
    df = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    return df.with_columns(*count_exprs("text", kinds)).with_columns(
        redact_expr("text", kinds).alias("text")
    )


def redact(text: str) -> str:
    return run([text])["text"][0]


_ASCII_B = r"(?:(?<![A-Za-z0-9_])(?=[A-Za-z0-9_])|(?<=[A-Za-z0-9_])(?![A-Za-z0-9_]))"


def _py(pattern: str) -> str:
    """A Rust pattern of pii.py in Python `re` syntax (`$` there is end of text)."""
    return re.sub(r"(?<!\\)\$", r"\\Z", pattern.replace(r"(?-u:\b)", _ASCII_B))


def oracle(text: str) -> tuple[str, dict[str, int]]:
    counts = dict.fromkeys(PII_KINDS, 0)
    for kind, passes in pii._PASSES.items():
        for pattern, replacement in passes:
            text, n = re.subn(_py(pattern), re.sub(r"\$\{(\d)\}", r"\\g<\1>", replacement), text)
            counts[kind] += n
    return text, counts


def check_against_oracle(texts: list[str]) -> None:
    out = run(texts)
    for text, row in zip(texts, out.iter_rows(named=True), strict=True):
        expected, counts = oracle(text)
        assert row["text"] == expected, text
        assert {k: row[f"filter.pii.{k}"] for k in PII_KINDS} == counts, text


# (text, redacted) -- realistic sentences, one kind each.
EMAILS = [
    ("Contact jane.doe@example.com for details.", f"Contact {EM} for details."),
    ("Write to <bob.smith+news@mail.example.co.uk>.", f"Write to <{EM}>."),
    ("mailto:first_last@sub-domain.example.org?subject=hi", f"mailto:{EM}?subject=hi"),
    ("Send CVs to HR-Team@Company.IO today", f"Send CVs to {EM} today"),
    ("Her address, a.b.c@d-e.f.museum, bounced.", f"Her address, {EM}, bounced."),
    ("Reply to 42@numbers.net by Friday", f"Reply to {EM} by Friday"),
    ("Old relays used user%relay@example.com addresses", f"Old relays used {EM} addresses"),
    ("(o.brien@example.ie)", f"({EM})"),
    ("Two of them: a@example.com,b@example.org", f"Two of them: {EM},{EM}"),
    ("Digits inside: jo.555.1234@x.org called", f"Digits inside: {EM} called"),
    ("EMAIL: support@help.desk.example.com.", f"EMAIL: {EM}."),
    ("clone https://user:secret@git.example.com/repo", f"clone https://user:{EM}/repo"),
    ("Punycode xn--bcher-kva@xn--bcher-kva.example works", f"Punycode {EM} works"),
]

IPS = [
    ("The server at 192.168.1.10 is down.", f"The server at {IP} is down."),
    ("DNS: 8.8.8.8, 1.1.1.1 and 9.9.9.9.", f"DNS: {IP}, {IP} and {IP}."),
    ("Connect to 10.0.0.1:8080 now", f"Connect to {IP}:8080 now"),
    ("Blocked the subnet 172.16.0.0/12 yesterday", f"Blocked the subnet {IP}/12 yesterday"),
    ("Lease range 10.0.0.1-10.0.0.255", f"Lease range {IP}-{IP}"),
    ("hosts:\n10.1.1.1\n10.1.1.2\n10.1.1.3\n", f"hosts:\n{IP}\n{IP}\n{IP}\n"),
    ("Netmask (255.255.255.0) and 0.0.0.0", f"Netmask ({IP}) and {IP}"),
    ("client IP=203.0.113.7; port=22", f"client IP={IP}; port=22"),
    ("Route via 2001:db8:85a3::8a2e:370:7334 today", f"Route via {IP} today"),
    ("Full form 2001:0db8:0000:0000:0000:ff00:0042:8329.", f"Full form {IP}."),
    ("Link-local fe80::1%eth0 answered", f"Link-local {IP}%eth0 answered"),
    ("Browse [2001:db8::1]:443 please", f"Browse [{IP}]:443 please"),
    ("log addr:2001:db8::ff00:42:8329 seen", f"log addr:{IP} seen"),
    ("Mapped ::ffff:192.0.2.128 keeps its prefix", f"Mapped ::ffff:{IP} keeps its prefix"),
]

PHONES = [
    ("Call (555) 123-4567 today.", f"Call {PH} today."),
    ("Call 555-123-4567 or 555.123.4567.", f"Call {PH} or {PH}."),
    ("Freephone 1-800-555-0199 now", f"Freephone {PH} now"),
    ("The London office is on 020 7946 0958.", f"The London office is on {PH}."),
    ("Manchester: 0161 496 0000", f"Manchester: {PH}"),
    ("Text 07700 900123 or 07700 900 123", f"Text {PH} or {PH}"),
    ("The helpline number is 0800 555 111.", f"The helpline number is {PH}."),
    ("Tel. +44 20 7946 0958, fax +44 (0)20 7946 0959", f"Tel. {PH}, fax {PH}"),
    ("US desk: +1 (555) 123-4567", f"US desk: {PH}"),
    ("Paris +33 1 23 45 67 89 ou 01 23 45 67 89", f"Paris {PH} ou {PH}"),
    ("Berlin +49 30 1234567 / 030 1234567", f"Berlin {PH} / {PH}"),
    ("Unformatted +442079460958 works", f"Unformatted {PH} works"),
    ("Ring (020) 7946 0958 after 6pm", f"Ring {PH} after 6pm"),
    ("Dotted international +1.555.123.4567", f"Dotted international {PH}"),
]

# Must come out unchanged, every kind at 0.
NEGATIVES = [
    # e-mail-like
    "Tweet @bbcnews or @BBCSport for updates.",
    "Log in with ssh root@localhost or admin@server",
    "Buy 3 @ £4.99 each",
    "write to name [at] example [dot] com",
    "a@b.c has a one-letter TLD, user@example.123 a numeric one",
    "Join Seti@home, and @example.com is no address",
    # IP-like
    "Released version 1.2.3.4.5 today",
    "Windows build 10.0.19041.1 ships",
    "v1.2.3.4 and 999.1.1.1 and 256.256.256.256",
    "Leading zeros as in 192.168.01.1 are refused",
    "Only three parts: 1.2.3",
    "It finished at 12:30:45.",
    "MAC 00:1a:2b:3c:4d:5e on the card",
    "C++ std::vector and Rust's Add::add, dead::beef",
    "Loopback ::1 and the prefix 2001:db8::/32",
    "A ratio of 3:2, a time of 1:48.23",
    # phone-like
    "The match is on 2024-01-15 at 19:45.",
    "Born 15/01/2024, or 01-15-2024 in US order, or 05.06.2024",
    "In 2004 profits rose to 3,000,000 from 2,500,000.",
    "ISBN 978-0-306-40615-7 and ISBN 0-306-40615-2",
    "Python 3.12.1 and version 10.0.19041",
    "It costs $1,234.56 or £5.99 (€7.00)",
    "Between 200-3000 people; the 1999-2000 season; 2007-2013",
    "Local 555-1234, bare 5551234567, spaced 555 123 4567",
    "Scores of 3-1, 2-0 and 4-4; times 09:30-17:30",
    "Shares rose +1.5% and fell +0.5 points",
    "Latitude 51.5074, longitude -0.1278",
    "A 12.5% rise to 1.234.567 units",
    "Boeing 737-800 and 10 737-800s; 72-500 and 000-300",
    "Figures 17 2003 and 505 505 from the table",
    "International 0044 20 7946 0958 uses 00",
]


@pytest.mark.parametrize(("text", "redacted"), EMAILS)
def test_emails(text, redacted):
    assert redact(text) == redacted


@pytest.mark.parametrize(("text", "redacted"), IPS)
def test_ips(text, redacted):
    assert redact(text) == redacted


@pytest.mark.parametrize(("text", "redacted"), PHONES)
def test_phones(text, redacted):
    assert redact(text) == redacted


@pytest.mark.parametrize("text", NEGATIVES)
def test_negatives_unchanged(text):
    out = run([text])
    assert out["text"][0] == text
    assert out.select(COUNTS).row(0) == (0, 0, 0)


def test_counts_columns_and_values():
    out = run([EMAILS[8][0], IPS[1][0], PHONES[1][0], "none here", None])
    assert out.schema == {"text": pl.String, **dict.fromkeys(COUNTS, pl.Int64)}
    assert out.select(COUNTS).rows() == [(2, 0, 0), (0, 3, 0), (0, 0, 2), (0, 0, 0), (0, 0, 0)]


def test_counts_equal_replacements_on_examples():
    texts = [t for t, _ in EMAILS + IPS + PHONES] + NEGATIVES
    texts.append(" ".join(texts))  # everything in one row, kinds next to each other
    check_against_oracle(texts)
    out = run(texts)
    for kind in PII_KINDS:  # and the counts are the placeholders the redaction added
        added = out["text"].str.count_matches(PLACEHOLDERS[kind], literal=True).sum()
        assert out[f"filter.pii.{kind}"].sum() == added


FRAGMENTS = [
    *"0123456789.:-+()@ \n/,;xaé",
    "1.2.3.4", "255", "256", "01", "::", "fe80", "db8", "2001:", "example", ".com", "a.b@",
    "555", "123-4567", "020 ", "7946", "+44 ", "(0)", "<IP_ADDRESS>", "<PHONE>", "<EMAIL>",
    ".555-123-4567", "0::", "::ffff:", " 2.2.2.2", "x@y.co", "a1:",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join), min_size=1))
def test_property_oracle_and_idempotence(texts):
    check_against_oracle(texts)
    once = run(texts)
    twice = run(once["text"].to_list())
    assert twice["text"].to_list() == once["text"].to_list()
    assert twice.select(pl.sum_horizontal(COUNTS)).to_series().to_list() == [0] * len(texts)


def test_idempotent_and_placeholders_never_matched():
    texts = [t for t, _ in EMAILS + IPS + PHONES]
    once = run(texts)
    twice = run(once["text"].to_list())
    assert twice["text"].equals(once["text"])
    assert twice.select(pl.sum_horizontal(COUNTS)).sum().item() == 0
    marks = f"{EM}{IP}{PH} {EM} <{IP}> ({PH}) {PH}-{PH} {IP}:{IP}"
    # Found by the property test: a later redaction must not free an earlier candidate.
    for text in ["0::ffff:1.2.3.4", "1.2.3.4.555-123-4567", "fe80::1.0800 555 111"]:
        once = redact(text)
        assert redact(once) == once
    assert run([marks]).row(0) == (marks, 0, 0, 0)


def test_nulls_and_empty():
    out = run([None, "", "x@example.com", None])
    assert out["text"].to_list() == [None, "", EM, None]
    assert out.select(COUNTS).rows() == [(0, 0, 0), (0, 0, 0), (1, 0, 0), (0, 0, 0)]
    assert run([None, None]).select(COUNTS).rows() == [(0, 0, 0)] * 2
    assert run([]).shape == (0, 4)


def test_kinds_subset_and_fixed_order():
    text = "mail jo.555-123-4567@x.org from 10.0.0.1 or 555-123-4567"
    out = run([text], kinds=("phone",))
    assert out.columns == ["text", "filter.pii.phone"]
    assert out.row(0) == ("mail jo.<PHONE>@x.org from 10.0.0.1 or <PHONE>", 2)
    # kinds always run e-mail -> ip -> phone, whatever order they are listed in
    redacted = f"mail {EM} from {IP} or {PH}"
    assert run([text], kinds=("phone", "ip", "email")).row(0) == (redacted, 1, 1, 1)
    with pytest.raises(ValueError, match="unknown PII kind"):
        redact_expr("text", ("ssn",))
    with pytest.raises(ValueError, match="unknown PII kind"):
        count_exprs("text", ("email", "credit_card"))


def test_other_column_name_and_lazy():
    df = pl.DataFrame({"body": ["ip 10.0.0.1", None]})
    out = df.lazy().with_columns(*count_exprs("body")).with_columns(redact_expr("body")).collect()
    assert out.rows() == [(f"ip {IP}", 0, 1, 0), (None, 0, 0, 0)]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: "".join(random.Random(0).choices("0123456789.", k=10_000_000)),
                     id="10MB-digits-and-dots"),
        pytest.param(lambda: "1.2.3.4." * 1_250_000, id="10MB-dotted-quads-chained"),
        pytest.param(lambda: "@" * 100_000, id="100k-at"),
        pytest.param(lambda: "a@b." * 250_000, id="1MB-a@b."),
        pytest.param(lambda: "a1:" * 1_000_000, id="3MB-hex-colon"),
        pytest.param(lambda: "+1 " * 1_000_000, id="3MB-plus-digit"),
        pytest.param(lambda: "1" * 10_000_000, id="10MB-digits"),
    ],
)  # fmt: skip
def test_bounded_time_on_pathological_rows(make):
    text = make()
    start = time.perf_counter()
    out = run([text, "x"])
    elapsed = time.perf_counter() - start
    assert out.height == 2
    assert elapsed < 3.0, f"{elapsed:.2f}s"  # about 0.5 s at worst on a 2-core machine
