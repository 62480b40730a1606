"""Resumable stages: finished work survives a crash (SIGKILL included) and is reused, only when
it was made from the same input, config, seed and winnow version.

A stage writing OUT builds it in `.OUT.partial/` beside OUT:
```
.OUT.partial/
  key.json          what this work was made from (input fingerprints, config, seed, version)
  out/              the future OUT: data/ and rejected/ shard files, written whole (tmp + rename)
  done/00003.json   one record per finished shard (its files' rows and sha256, its counts),
                    written after the shard's files
  work/             the global pass's scratch folder (stages checkpoint their own parts in it)
  prepared.pkl      the stage after its global pass: a re-run skips `prepare`
```
A re-run with the same key resumes: shards with a record are not redone, a finished global pass
is not redone. Any other key discards the folder. At the end `out/` gets its manifest and is
renamed into place, then the folder goes. The pickle is this program's own checkpoint, read
back only by the same winnow version (the key says so); it is never a file users exchange.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

from curate.atomic import replace_atomically, write_atomically
from curate.config import canonical_sha256
from curate.dataset import read_json


class Partial:
    def __init__(self, out: Path):
        self.target = out
        self.root = out.parent / f".{out.name}.partial"
        self.out = self.root / "out"
        self.done = self.root / "done"
        self.work = self.root / "work"
        self.prepared = self.root / "prepared.pkl"

    def open(self, key: dict) -> bool:
        """Ready to write; True when earlier work with the same key is there to reuse."""
        sha = canonical_sha256(key)
        found = read_json(self.root / "key.json")
        resumed = isinstance(found, dict) and found.get("sha256") == sha
        if not resumed:
            self.discard()
            self.root.mkdir(exist_ok=True)
            doc = {"sha256": sha, "key": key}
            write_atomically(self.root / "key.json", (json.dumps(doc, indent=2) + "\n").encode())
        for d in (self.out / "data", self.out / "rejected", self.done, self.work):
            d.mkdir(parents=True, exist_ok=True)
        return resumed

    def finished_shards(self) -> dict[int, dict]:
        """Records of shards whose files are all there."""
        out = {}
        for f in sorted(self.done.glob("*.json")):
            rec = read_json(f)
            if not isinstance(rec, dict) or not f.stem.isdigit():
                continue
            files = [self.out / part / rec[part]["path"] for part in ("data", "rejected")]
            if all(p.is_file() for p in files):
                out[int(f.stem)] = rec
        return out

    def load_prepared(self) -> Any | None:
        if not self.prepared.is_file():
            return None
        try:
            return pickle.loads(self.prepared.read_bytes())
        except Exception:  # a torn or foreign file: redo the global pass
            return None

    def save_prepared(self, stage: Any) -> None:
        write_atomically(self.prepared, pickle.dumps(stage, protocol=pickle.HIGHEST_PROTOCOL))

    def finish(self, manifest: dict) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        for part in ("data", "rejected"):  # files a killed writer left half-written
            for stray in (self.out / part).glob(".*"):
                stray.unlink()
        (self.out / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        )
        replace_atomically(self.out, self.target)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def record_shard(done: Path, index: int, result: dict) -> None:
    """Marks a shard finished; called after its files are in place."""
    write_atomically(done / f"{index:05d}.json", (json.dumps(result) + "\n").encode())
