"""Extracts the committed source text behind `winnow sample` into curate/resources/.

A one-off developer script, never run by winnow itself. Inputs are system packages, so the
committed files can be rebuilt and audited:

    apt-get install wordnet-base
    pip download --no-deps --no-binary :all: chatterbot-corpus==1.3.3 -d /tmp/cb
    python scripts/build_sample_sources.py --chatterbot /tmp/cb/chatterbot_corpus-1.3.3.tar.gz

It reads the chatterbot sdist rather than the wheel because only the sdist carries the licence
(license.md). Needs PyYAML. Same inputs and seed give byte-identical outputs.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

# Standard WordNet lexicographer file numbers (lexnames) of the classes we keep.
LEXNAMES = {"05": "animal", "06": "artifact", "13": "food", "18": "person", "20": "plant"}
MIN_GLOSS_WORDS = 8
MAX_PER_CLASS = 1500

# chatterbot-corpus folder -> ISO 639-1 code (what language identifiers report).
LANGUAGES = {
    "dutch": "nl",
    "french": "fr",
    "german": "de",
    "indonesian": "id",
    "italian": "it",
    "portuguese": "pt",
    "russian": "ru",
    "spanish": "es",
}
MIN_LINE_WORDS = 4
MAX_PER_LANGUAGE = 60


def wordnet_rows(data_noun: Path, seed: int) -> list[tuple[str, str, str]]:
    """(synset, label, "syn, syn: gloss") for a seeded sample of each kept class."""
    by_label: dict[str, list[tuple[str, str, str]]] = {label: [] for label in LEXNAMES.values()}
    with data_noun.open(encoding="ascii") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            head, gloss = line.split(" | ", 1)
            offset, lex_filenum, _ss_type, w_cnt, *rest = head.split()
            label = LEXNAMES.get(lex_filenum)
            gloss = gloss.strip()
            if label is None or len(gloss.split()) < MIN_GLOSS_WORDS:
                continue
            words = rest[: 2 * int(w_cnt, 16) : 2]  # word, lex_id pairs
            synonyms = ", ".join(w.replace("_", " ") for w in words)
            by_label[label].append((f"{offset}-n", label, f"{synonyms}: {gloss}"))
    rng = random.Random(seed)
    rows = []
    for label in sorted(by_label):
        pool = by_label[label]
        rows += sorted(rng.sample(pool, min(MAX_PER_CLASS, len(pool))))
    return rows


def chatterbot_rows(sdist: Path, seed: int) -> tuple[list[tuple[str, str]], str]:
    """(lang, line) samples per language, and the licence text, from the sdist tarball."""
    lines: dict[str, set[str]] = {code: set() for code in LANGUAGES.values()}
    licence = None
    with tarfile.open(sdist) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = Path(member.name).parts
            if parts[1:] == ("license.md",):
                licence = tar.extractfile(member).read().decode("utf-8")
            elif parts[1:3] == ("chatterbot_corpus", "data") and member.name.endswith(".yml"):
                code = LANGUAGES.get(parts[3])
                if code is None:
                    continue
                doc = yaml.safe_load(tar.extractfile(member).read().decode("utf-8"))
                for conversation in doc.get("conversations") or []:
                    for turn in conversation:
                        # non-strings are YAML mishaps (numbers, nested lists); tabs and
                        # newlines would break the TSV
                        text = " ".join(turn.split()) if isinstance(turn, str) else ""
                        if len(text.split()) >= MIN_LINE_WORDS:
                            lines[code].add(text)
    if licence is None:
        raise SystemExit(f"{sdist}: no license.md (pass the sdist, not the wheel)")
    rng = random.Random(seed)
    rows = []
    for code in sorted(lines):
        pool = sorted(lines[code])
        rows += [(code, t) for t in sorted(rng.sample(pool, min(MAX_PER_LANGUAGE, len(pool))))]
    return rows, licence


def write_tsv_gz(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Unquoted TSV (fields hold no tab or newline), gzip with no name or mtime: reproducible."""
    body = io.StringIO()
    for row in [header, *rows]:
        if any("\t" in v or "\n" in v for v in row):
            raise ValueError(f"tab or newline in {row!r}")
        body.write("\t".join(row) + "\n")
    with path.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as gz:
        gz.write(body.getvalue().encode("utf-8"))


def wordnet_licence(copyright_file: Path) -> str:
    """The WordNet3.0 licence paragraph of a Debian copyright file, as plain text."""
    out, inside = [], False
    for line in copyright_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("License: WordNet3.0"):
            inside = True
        elif inside and line.startswith(" "):
            out.append("" if line.strip() == "." else line[1:])
        elif inside:
            break
    if not out:
        raise SystemExit(f"{copyright_file}: no 'License: WordNet3.0' paragraph")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chatterbot", type=Path, required=True, help="chatterbot-corpus sdist")
    p.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet/data.noun"))
    p.add_argument(
        "--wordnet-copyright", type=Path, default=Path("/usr/share/doc/wordnet-base/copyright")
    )
    p.add_argument("--out", type=Path, default=REPO / "curate" / "resources")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "__init__.py").touch()

    glosses = wordnet_rows(args.wordnet, args.seed)
    write_tsv_gz(args.out / "wordnet_glosses.tsv.gz", ("synset", "label", "text"), glosses)
    (args.out / "NOTICE-WordNet.txt").write_text(
        "wordnet_glosses.tsv.gz (and the sample data built from it) holds synonyms and glosses\n"
        "from WordNet 3.0 (Debian package wordnet-base, data.noun), used under this licence:\n\n"
        + wordnet_licence(args.wordnet_copyright)
    )

    lines, licence = chatterbot_rows(args.chatterbot, args.seed)
    write_tsv_gz(args.out / "chatterbot_multilingual.tsv.gz", ("lang", "text"), lines)
    (args.out / "NOTICE-chatterbot-corpus.txt").write_text(
        "chatterbot_multilingual.tsv.gz (and the sample data built from it) holds dialog lines\n"
        f"from chatterbot-corpus ({args.chatterbot.name},\n"
        "https://github.com/gunthercox/chatterbot-corpus), used under its BSD-3-Clause licence:\n\n"
        + licence.strip()
        + "\n"
    )

    for label in sorted({r[1] for r in glosses}):
        print(f"wordnet {label}: {sum(r[1] == label for r in glosses)}")
    for code in sorted({r[0] for r in lines}):
        print(f"chatterbot {code}: {sum(r[0] == code for r in lines)}")


if __name__ == "__main__":
    main()
