"""Personal-data redaction for `filter`: e-mail addresses, IP addresses and phone numbers.

Columnar: each kind is one to three `str.replace_all` passes of a Rust regex over the whole
column (linear time, no backtracking: a pathological row costs what its length costs). The kinds
run in a fixed order, e-mail -> ip -> phone, whatever order `kinds` lists them in: an e-mail's
local part may hold a phone number (`jo.555-123-4567@x.org`) and a dotted IPv4 address after a
'+' reads as an international number, so the more specific pattern goes first. Counts are the
placeholders the redaction adds (those already in the text are subtracted), so they equal the
replacements by construction. Placeholders hold no '@' and no digit, so no pattern matches them,
and redacting twice changes nothing more (tested against random strings).

Rust regex has no look-around, so boundaries are ASCII word boundaries `(?-u:\\b)` (a Unicode
`\\b` stops the lazy DFA on non-ASCII text) or, for IPs, context characters matched around the
address and written back. An IPv4 address needs one before it (no '.' there, so the tail of
`1.2.3.4.5` is no address); two addresses joined by one character (`1.1.1.1 2.2.2.2`) share it,
so one pass takes every other address and a second pass the rest.

What matches, and what is knowingly given up for precision:

- email: local part of ASCII letters, digits and `_ % + -` in dot-separated runs (no leading,
  trailing or doubled dot), '@', one or more domain labels (letters, digits, inner hyphens) and a
  TLD of 2-63 letters. Not matched: dotless domains (`root@localhost`, handles like
  `user@host` in logs), quoted local parts, IP-literal domains (`x@[10.0.0.1]`, whose IP is still
  redacted), non-ASCII local parts and domains (IDN must be punycode). A non-ASCII letter right
  before the local part stays in the text. Known false positives: retina asset names
  (`icon@2x.png`), `a@b.cd`-shaped code.
- ip: IPv4 dotted quads with each octet 0-255 and no leading zero (`192.168.01.1` is not taken),
  not touching a letter, a digit or another dotted number (`1.2.3.4.5`, `v1.2.3.4` are not
  taken); a '.' or ':' may follow only at the end of the text or before a space (`1.2.3.4.` ends a
  sentence), other punctuation freely (`1.2.3.4:8080`, `1.2.3.4/24`, `(1.2.3.4)`). IPv6 in full
  form (8 groups) or `::`-compressed with at least one group on each side of `::`
  (`2001:db8::1`, `fe80::1%eth0`, `[2001:db8::1]:443`, `addr:2001:db8::1`), whose first group
  holds a decimal digit: this keeps out `Add::add`, `dead::beef`, C++ `std::`, times
  (`12:30:45`) and MAC addresses (6 groups). Given up: `::1`, `::`, prefixes ending in `::`
  (`2001:db8::/32`), all-letter first groups (`abcd::1`), IPv4-mapped forms (`::ffff:1.2.3.4`:
  only the IPv4 part is redacted). Known false positives: four-part version or section numbers
  with small parts (`section 1.2.3.4`), the tail of a colon chain of 9+ hex groups.
- phone: international, a '+' then 7-15 digits with single space/dot/hyphen separators and
  optional parentheses (`+44 (0)20 7946 0958`, `+1 (555) 123-4567`, `+33 1 23 45 67 89`);
  North American with an area code 2-9xx: `(555) 123-4567`, `555-123-4567`, `555.123.4567`,
  with an optional leading 1 (`1-800-555-0199`, `1 (800) 555-0199`); national trunk-0 forms
  (UK, FR, DE): `020 7946 0958`, `0161 496 0000`, `07700 900 123`, `01632 960123`,
  `(020) 7946 0958`, `01 23 45 67 89`. Not matched, on purpose: bare digit runs without '+'
  (`5551234567` could be any id), space-only North American numbers (`555 123 4567`, too close
  to tables of figures), 7-digit local numbers (`555-1234`, too close to ranges), `00`
  international prefixes, unusual groupings (`0845 8 505 505`, seen in BBC News), and anything
  with commas or slashes, so dates (`2024-01-15`, `15/01/2024`), years, counts (`3,000,000`),
  times, versions, prices and ISBNs (`978-0-306-40615-7`, `0-306-40615-2`) stay. A number
  running on past the pattern (`555-123-4567-89`) has its matching head redacted. Known false
  positives: a '+' before space-grouped figures (`+12 345 678`), French-shaped runs of five
  2-digit groups starting with 0.
"""

from __future__ import annotations

import polars as pl

PII_KINDS = ("email", "ip", "phone")
PLACEHOLDERS = {"email": "<EMAIL>", "ip": "<IP_ADDRESS>", "phone": "<PHONE>"}

_B = r"(?-u:\b)"  # ASCII word boundary: keeps the lazy DFA on non-ASCII text

_ATOM = r"[A-Za-z0-9_%+-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL = rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}{_B}"

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_HEX = r"[0-9A-Fa-f]{1,4}"
# A first group with a decimal digit in it: real prefixes (2001, fe80, 2a02) have one, words don't.
_HEX_D = (
    r"(?:[0-9][0-9A-Fa-f]{0,3}|[A-Fa-f][0-9][0-9A-Fa-f]{0,2}"
    r"|[A-Fa-f]{2}[0-9][0-9A-Fa-f]?|[A-Fa-f]{3}[0-9])"
)
# The full 8-group form, then i groups before '::' and 1..7-i after.
_IPV6 = "|".join(
    [rf"{_HEX_D}(?::{_HEX}){{7}}"]
    + [rf"{_HEX_D}(?::{_HEX}){{{i - 1}}}::{_HEX}(?::{_HEX}){{0,{6 - i}}}" for i in range(1, 7)]
)
# After an address: no letter or digit, and '.' or ':' only before a space or the end (so that
# redacting a neighbour later can never free an address: idempotence). These context characters
# are captured and written back, for want of look-ahead.
IPV6 = rf"{_B}(?:{_IPV6})($|[^\w.:]|[.:](?:\s|$))"
# Before an IPv4 address also no '.', so the tail of 1.2.3.4.5 is no address: a consumed context
# character again (a leading one; `\b` would let the match start after "1.").
IPV4 = rf"(^|[^\w.])(?:{_IPV4})($|[^\w.]|\.(?:\s|$))"

_NPA = r"[2-9][0-9]{2}"  # North American area codes never start with 0 or 1
# National forms factored behind a single boundary: the same matches as separate branches, and
# several times faster (the regex engine then picks a better prefilter; measured, not guessed).
PHONE = "|".join(
    [
        rf"{_B}(?:(?:1[-.])?{_NPA}(?:-[0-9]{{3}}-|\.[0-9]{{3}}\.)[0-9]{{4}}"  # 555-123-4567
        # Trunk 0 then a non-zero digit ("00" is an international prefix, not matched).
        rf"|0[1-9](?:[0-9][ -][0-9]{{4}}[ -][0-9]{{4}}"  # 020 7946 0958
        rf"|[0-9]{{2}}[ -][0-9]{{3}}[ -][0-9]{{3,4}}"  # 0161 496 0000
        rf"|[0-9]{{3}}[ -][0-9]{{3}}[ -][0-9]{{3}}"  # 07700 900 123
        rf"|[0-9]{{1,3}}[ -][0-9]{{6,8}}"  # 01632 960123
        rf"|(?:[ .-][0-9]{{2}}){{4}})){_B}",  # 01 23 45 67 89
        # '+', then 7-15 digits: one per repetition, each after an optional separator.
        r"\+[1-9](?:[ .-]?\(?[0-9]\)?){6,14}" + _B,
        rf"(?:{_B}1 ?)?\({_NPA}\)[ .-]?[0-9]{{3}}[ .-]?[0-9]{{4}}{_B}",  # (555) 123-4567
        rf"\(0[1-9][0-9]{{1,3}}\) ?[0-9]{{3,4}}[ -]?[0-9]{{3,4}}{_B}",  # (020) 7946 0958
    ]
)

_IP = PLACEHOLDERS["ip"]
# kind -> the (pattern, replacement) passes, kinds in this order. IPv4 twice: two addresses
# joined by one character share it as context, so a pass takes every other one.
_PASSES = {
    "email": [(EMAIL, PLACEHOLDERS["email"])],
    "ip": [(IPV6, _IP + "${1}"), (IPV4, "${1}" + _IP + "${2}"), (IPV4, "${1}" + _IP + "${2}")],
    "phone": [(PHONE, PLACEHOLDERS["phone"])],
}


def _check(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """`kinds` without repeats; unknown ones are an error."""
    unknown = sorted(set(kinds) - set(PII_KINDS))
    if unknown:
        raise ValueError(f"unknown PII kind(s) {unknown}; known: {', '.join(PII_KINDS)}")
    return tuple(dict.fromkeys(kinds))


def redact_expr(column: str, kinds: tuple[str, ...] = PII_KINDS) -> pl.Expr:
    """The text of `column` with each match replaced by its kind's placeholder (null stays null)."""
    kinds = _check(kinds)
    t = pl.col(column)
    for kind, passes in _PASSES.items():
        if kind in kinds:
            for pattern, replacement in passes:
                t = t.str.replace_all(pattern, replacement)
    return t


def count_exprs(column: str, kinds: tuple[str, ...] = PII_KINDS) -> list[pl.Expr]:
    """Int64 `filter.pii.<kind>`: the replacements `redact_expr` makes in each row (0 for null).

    One expression yielding all the columns: the text is redacted once and each kind's count is
    its placeholders after minus before. (Separate expressions would each redo the redaction:
    an eager `with_columns` does not share common subexpressions.)
    """
    kinds = _check(kinds)
    names = [f"filter.pii.{k}" for k in kinds]

    def counts(text: pl.Series) -> pl.Series:
        frame = text.rename("t").to_frame().with_columns(redact_expr("t", kinds).alias("r"))
        return frame.select(
            (
                pl.col("r").str.count_matches(PLACEHOLDERS[k], literal=True).cast(pl.Int64)
                - pl.col("t").str.count_matches(PLACEHOLDERS[k], literal=True).cast(pl.Int64)
            )
            .fill_null(0)
            .alias(name)
            for k, name in zip(kinds, names, strict=True)
        ).to_struct("filter.pii")

    dtype = pl.Struct(dict.fromkeys(names, pl.Int64))
    return [
        pl.col(column).map_batches(counts, return_dtype=dtype, is_elementwise=True).struct.unnest()
    ]
