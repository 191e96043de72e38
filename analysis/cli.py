"""Command line: ``python -m analysis models|datasets|train|import|runs|sweeps|analyze|report|review|diff|similarity``.

The JSON outputs are a contract the pages, scripts and checks rely on. The CSV outputs are the
frames of :mod:`analysis.frames` (``runs --csv``: runs_frame; ``report --csv``: layers_frame), so a
sheet, a notebook and the app's tables show the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import numpy as np

from model_zoo import ModelOptions, UnknownModelError, canonical_name, describe_model, model_names

from .data.datasets import DATASET_NAMES, DatasetError, load_dataset
from .pipeline import AnalysisError
from .runs.checkpoints import CheckpointError
from .runs.store import BrokenRunError, RunNameError, RunNotFoundError, RunStore, check_run_name
from .sweeps import (
    SweepNotFoundError,
    check_sweep_name,
    load_sweep,
    new_sweep,
    record_sweep,
    spread_text,
    sweep_names,
    sweep_status,
)
from .training.profiles import DATA_SEED, PROFILES, get_profile
from .training.trainer import RunConflictError, Trainer, default_run_name

DATA_DIR_HELP = (
    "folder holding cifar-10-batches-py or the Fashion-MNIST idx files; for imagefolder, the image folder itself"
)

DOWNLOAD_HELP = "fetch CIFAR-10 (with --dataset fashion-mnist: Fashion-MNIST) with torchvision; needs internet"

# Failures the user can fix: printed as one clear line, exit code 2, no traceback.
USER_ERRORS = (
    AnalysisError,
    UnknownModelError,
    RunNameError,
    RunNotFoundError,
    SweepNotFoundError,
    BrokenRunError,
    CheckpointError,
    DatasetError,
    RunConflictError,
    FileExistsError,
    ValueError,
)


def _format_table(rows: list[dict], columns: Sequence[str]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4f}" if value < 10 else f"{value:,.0f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return "-" if value is None else str(value)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def resolve_model_names(names: Sequence[str]) -> list[str]:
    """Canonical names, with ``all`` standing for the whole registered family; duplicates dropped."""
    expanded = [m for name in names for m in (model_names() if name == "all" else [canonical_name(name)])]
    return list(dict.fromkeys(expanded))


def cmd_models(args: argparse.Namespace) -> int:
    options = ModelOptions(width_scale=args.width_scale)
    rows = [describe_model(name, options) for name in model_names()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_format_table(rows, ["name", "title", "conv_layers", "pool_layers", "fc_layers", "params", "flops"]))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.dataset, data_dir=args.data_dir, download=args.download, log=_log)
    summary = dataset.summary()
    print(json.dumps(summary, indent=2) if args.json else f"{dataset.name}: {dataset.description} [{summary['hash']}]")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    models = resolve_model_names(args.model)
    seeds = list(dict.fromkeys(args.seeds))
    if args.name and (len(models) > 1 or len(seeds) > 1):
        raise ValueError("--name names one run; give a single --model and a single --seed with it")
    if args.name:
        check_run_name(args.name)
    if args.sweep:
        check_sweep_name(args.sweep)
    profile = get_profile(args.profile).with_epochs(args.epochs)
    dataset = load_dataset(args.dataset, data_dir=args.data_dir, download=args.download, log=_log)
    # The subset has its own seed, so every --seed of a model trains and is evaluated on the same images.
    dataset = dataset.subset(profile.max_train_images, profile.max_test_images, seed=args.data_seed)
    _log(
        f"training {len(models)} model(s) × {len(seeds)} seed(s), profile {profile.name} ({profile.epochs} epochs, "
        f"width × {profile.width_scale:g}), on {dataset.description}"
    )
    store = RunStore(args.runs)
    plan = [
        (model, seed, args.name or default_run_name(model, profile.name, dataset.name, seed))
        for seed in seeds
        for model in models
    ]
    if args.sweep:
        # Recorded before training, so a sweep half done still lists the runs to come.
        sweep = new_sweep(args.sweep, plan, profile.name, dataset.name, args.data_seed, profile.epochs)
        record_sweep(store, sweep)
        _log(f"sweep {args.sweep}: {len(plan)} run(s) recorded in {store.artifacts.describe()}")
    rows = []
    for seed in seeds:
        trainer = Trainer(
            store,
            profile,
            device=args.device,
            precision=args.precision,
            seed=seed,
            progress=not args.no_progress,
        )
        for model, _, run_name in (entry for entry in plan if entry[1] == seed):
            rows.append(trainer.fit(model, dataset, run_name=run_name))
    for row in rows:
        row["seed"] = row.get("config", {}).get("seed")
    print(f"on {dataset.description}")
    print(_format_table(rows, ["name", "model", "seed", "epochs_done", "train_error", "test_error", "train_seconds"]))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .runs.importer import import_run

    options = None
    if args.width_scale is not None:
        options = ModelOptions(width_scale=args.width_scale, batch_norm=not args.no_batch_norm)
    dataset = None
    if args.dataset != "none":
        dataset = load_dataset(args.dataset, data_dir=args.data_dir, log=_log)
    meta = import_run(
        RunStore(args.runs), args.model, args.checkpoint, check_run_name(args.name), dataset=dataset, options=options
    )
    print(json.dumps({k: meta[k] for k in ("name", "model", "dataset", "train_error", "test_error")}))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    if args.csv:
        from .frames import runs_frame

        return _print_csv(runs_frame(runs_dir=args.runs, cache=args.cache))
    rows = RunStore(args.runs).list_runs()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            _format_table(
                rows, ["name", "model", "profile", "dataset", "epochs", "train_error", "test_error", "status"]
            )
        )
    return 0


def cmd_sweeps(args: argparse.Namespace) -> int:
    store = RunStore(args.runs)
    names = [check_sweep_name(args.sweep)] if args.sweep else sweep_names(store)
    sweeps = [sweep_status(store, load_sweep(store, name)) for name in names]
    if args.json:
        print(json.dumps(sweeps, indent=2))
        return 0
    if not sweeps:
        print(
            f"no sweeps in {store.artifacts.describe()}: record one with `train --model all --seeds 0 1 --sweep NAME`"
        )
    for sweep in sweeps:
        print(
            f"{sweep['name']}: {sweep['finished']} of {sweep['total']} run(s) finished — {len(sweep['models'])} "
            f"model(s) × seeds {', '.join(map(str, sweep['seeds']))}, profile {sweep['profile']}, "
            f"dataset {sweep['dataset']}"
        )
        print(_format_table(sweep["runs"], ["name", "model", "seed", "status", "epochs", "train_error", "test_error"]))
        for spread in sweep["seed_spread"]:
            text = spread_text(spread)
            if text:
                print(f"  {spread['model']}: {text}")
        print()
    return 0


def _analyzer(args: argparse.Namespace):
    from .cache import AnalysisCache
    from .pipeline import AnalysisParams, RunAnalyzer

    return RunAnalyzer(
        RunStore(args.runs),
        AnalysisCache(args.cache),
        AnalysisParams(max_images=args.max_images),
        data_dir=args.data_dir,
        dataset_override=args.dataset,
    )


def cmd_analyze(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    analyzer = _analyzer(args)
    names = _run_names(analyzer, args.run)
    for name in tqdm(names, desc="analyse", unit="run", disable=args.no_progress):
        counts = analyzer.analyze(name, snapshots=not args.no_snapshots)
        _log(f"{name}: {counts['misses']} computed, {counts['hits']} from the cache")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    analyzer = _analyzer(args)
    reports = [analyzer.report(check_run_name(name)) for name in args.run]  # computes what is not cached yet
    document = reports[0] if len(reports) == 1 else reports
    if args.csv:
        from .frames import layers_frame

        return _print_csv(layers_frame([report["run"] for report in reports], analyzer=analyzer))
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        for report in reports:
            print(
                f"{report['run']} ({report['model']}) on {report['dataset_description']}: "
                f"train error {report['train_error']:.4f}, test error {report['test_error']:.4f} "
                f"(95 % interval {report['test_error_interval'][0]:.4f}–{report['test_error_interval'][1]:.4f})"
            )
            print(
                _format_table(
                    report["layers"],
                    [
                        "name",
                        "relative_depth",
                        "n_neurons",
                        "n_clusters",
                        "mean_within_cluster_similarity",
                        "near_duplicate_fraction",
                        "effective_rank",
                        "positive_edge_fraction",
                        "positive_mass_fraction",
                    ],
                )
            )
            for finding in report["findings"]:
                print(f"  [{finding['severity']}] {finding['text']}")
    return 0


def _run_names(analyzer, names: Sequence[str]) -> list[str]:
    return analyzer.store.names() if list(names) == ["all"] else [check_run_name(n) for n in names]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def cmd_review(args: argparse.Namespace) -> int:
    analyzer = _analyzer(args)
    names = _run_names(analyzer, args.run)
    if not names:
        raise ValueError(f"there are no runs in {analyzer.store.artifacts.describe()} to review")
    review = analyzer.review(names, tolerance=args.tolerance)
    if args.json:
        print(json.dumps(review, indent=2))
        return 0
    print(f"Review of {len(names)} run(s) on {review['dataset']}")
    recommendation = review["recommendation"]
    print(f"Recommendation: {recommendation['run']} ({recommendation['reason']})")
    print(f"Pareto front (test error against FLOPs): {', '.join(review['pareto']) or '-'}")
    rows = [
        {
            **row,
            "test_error": _percent(row["test_error"]),
            "interval": "–".join(map(_percent, row["interval"])) if row["interval"] else "-",
        }
        for row in review["runs"]
    ]
    print(_format_table(rows, ["run", "model", "test_error", "interval", "params", "flops", "on_front", "reviewed"]))
    for spread in review["seed_spread"]:
        if spread_text(spread):
            print(f"{spread['model']} across seeds: {spread_text(spread)}")
    print("Findings, most severe first:")
    for finding in review["findings"]:
        print(f"  [{finding['severity']}] {finding['text']}  → {finding['view']}")
    if review["not_reviewed"]:
        print(
            f"not reviewed (no ablation cached): {', '.join(review['not_reviewed'])}; run "
            "`python -m analysis analyze --run ...`"
        )
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    if len(args.run) != 2:
        raise ValueError(f"diff compares two runs: give --run A --run B (got {len(args.run)})")
    analyzer = _analyzer(args)
    diff = analyzer.diff(*(check_run_name(name) for name in args.run))
    if args.json:
        print(json.dumps(diff, indent=2))
        return 0
    print(f"{diff['run_a']} → {diff['run_b']} on {diff['dataset']}")
    print(_format_table(diff["rows"], ["quantity", "a", "b", "change", "significant"]))
    print(_format_table(diff["per_class"][:5], ["class", "a", "b", "change"]))
    print(
        _format_table(
            diff["by_depth"],
            [
                "depth",
                "layer_a",
                "layer_b",
                "near_duplicate_a",
                "near_duplicate_b",
                "positive_edges_a",
                "positive_edges_b",
                "cka",
            ],
        )  # fmt: skip
    )
    for sentence in diff["sentences"]:
        print(f"  {sentence}")
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    from .statistics.similarity import identification_accuracy

    runs = [check_run_name(name) for name in args.run]
    if len(runs) != 2:
        raise ValueError(f"similarity compares two runs: give --run A --run B (got {len(runs)})")
    analyzer = _analyzer(args)
    result = analyzer.cka(runs[0], runs[1], debiased=args.debiased)
    stats = analyzer.statistics(runs[0])
    matrix = np.asarray(result["matrix"], dtype=float)
    document = {
        "run_a": runs[0],
        "run_b": runs[1],
        "dataset": stats["dataset"],
        "dataset_description": stats["dataset_description"],
        "n_images": result["n_images"],
        "debiased": result["debiased"],
        "layers_a": list(result["rows"]),
        "layers_b": list(result["columns"]),
        "cka": matrix.tolist(),
        "identification_accuracy": {
            "logits_included": identification_accuracy(matrix, include_logits=True),
            "logits_excluded": identification_accuracy(matrix, include_logits=False),
        },
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    kind = "debiased linear CKA" if args.debiased else "linear CKA"
    print(
        f"{kind}: rows {runs[0]}, columns {runs[1]}, on {result['n_images']} images of {stats['dataset_description']}"
    )
    rows = [
        {"layer": name, **dict(zip(document["layers_b"], values))} for name, values in zip(document["layers_a"], matrix)
    ]
    print(_format_table(rows, ["layer", *document["layers_b"]]))
    for label, key in (("with the logits", "logits_included"), ("without the logits", "logits_excluded")):
        value = document["identification_accuracy"][key]
        text = "- (the two runs' layers do not correspond)" if value is None else f"{100 * value:.1f} %"
        print(f"layer identification accuracy {label}: {text}")
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _print_csv(frame) -> int:
    """The frame as CSV on stdout (full float precision: it reads back equal); runs not analysed named on stderr."""
    frame.to_csv(sys.stdout, index=False, lineterminator="\n")
    for run, reason in frame.attrs.get("not_analysed", {}).items():
        _log(f"{run}: not analysed: {reason}")
    return 0


def _add_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache",
        default=None,
        help="analysis cache: a folder or a redis:// URL (default $REDIS_URL, else $CNNCMP_CACHE_DIR or ./cache)",
    )


def _add_formats(p: argparse.ArgumentParser) -> None:
    formats = p.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true")
    formats.add_argument("--csv", action="store_true", help="the same numbers as CSV (analysis.frames)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def add_runs(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--runs", default=None, help="runs folder or bucket URL s3://… (default $CNNCMP_RUNS_DIR or ./runs)"
        )

    def add_data(p: argparse.ArgumentParser, choices: Sequence[str] = DATASET_NAMES) -> None:
        p.add_argument(
            "--dataset",
            default="auto",
            choices=choices,
            help="auto = cifar10 when its folder is present, else fashion-mnist when installed, else digits",
        )
        p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP + " (default $CNNCMP_DATA_DIR or ./data)")

    p = commands.add_parser("models", help="list the registered models")
    p.add_argument("--json", action="store_true")
    p.add_argument("--width-scale", type=float, default=1.0, help="global width scale for params/FLOPs")
    p.set_defaults(func=cmd_models)

    p = commands.add_parser("datasets", help="load (and prepare) a dataset and say which one it is")
    add_data(p)
    p.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = commands.add_parser("train", help="train (or resume, or skip when done) models of the family")
    p.add_argument("--model", nargs="+", required=True, help="model names, or 'all' for the whole family")
    p.add_argument("--profile", default="demo", choices=list(PROFILES))
    add_data(p)
    add_runs(p)
    p.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument("--name", default=None, help="run name (one model only); default MODEL-PROFILE-DATASET")
    p.add_argument(
        "--seed",
        "--seeds",
        dest="seeds",
        type=int,
        nargs="+",
        default=[0],
        help="initialisation and batch-order seeds; several train every model once per seed (run names get -seedN)",
    )
    p.add_argument(
        "--data-seed",
        type=int,
        default=DATA_SEED,
        help=f"seed of the profile's data subset, the same for every --seed (default {DATA_SEED})",
    )
    p.add_argument(
        "--sweep", default=None, help="record these runs as the sweep NAME (list them with `python -m analysis sweeps`)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 …")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("import", help="import a state_dict checkpoint as a run")
    p.add_argument("--model", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--name", required=True)
    add_runs(p)
    add_data(p, choices=(*DATASET_NAMES, "none"))
    p.add_argument("--width-scale", type=float, default=None, help="default: read off the weights")
    p.add_argument("--no-batch-norm", action="store_true", help="with --width-scale: the net has no BN")
    p.set_defaults(func=cmd_import)

    def add_analysis(
        p: argparse.ArgumentParser,
        run_help: str = "run names, as --run A B or --run A --run B ('all' with analyze and review: every run)",
    ) -> None:
        # extend: `--run A B` and `--run A --run B` both name two runs.
        p.add_argument("--run", nargs="+", action="extend", required=True, help=run_help)
        add_runs(p)
        p.add_argument(
            "--dataset",
            default=None,
            choices=DATASET_NAMES[1:],
            help="evaluate on this dataset instead of the one the run was trained on",
        )
        p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
        _add_cache(p)
        p.add_argument("--max-images", type=int, default=None, help="cap on evaluation images")

    p = commands.add_parser("analyze", help="compute and cache every analysis of runs (idempotent)")
    add_analysis(p)
    p.add_argument("--no-snapshots", action="store_true", help="final weights only, not the snapshots")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_analyze)

    p = commands.add_parser("report", help="a run's errors and per-layer redundancy and edge statistics")
    add_analysis(p)
    _add_formats(p)
    p.set_defaults(func=cmd_report)

    p = commands.add_parser(
        "similarity", help="linear CKA between the layers of two runs, and how often it identifies the same layer"
    )
    add_analysis(p, run_help="the two runs: --run A --run B (e.g. two seeds of one model)")
    p.add_argument("--debiased", action="store_true", help="debiased CKA (unbiased HSIC)")
    p.add_argument("--json", action="store_true", help="cka (rows: A's layers), layers_a, layers_b, …")
    p.set_defaults(func=cmd_similarity)

    p = commands.add_parser("review", help="the findings, the Pareto front and the recommendation over runs")
    add_analysis(p)
    p.add_argument(
        "--tolerance", type=float, default=0.005, help="test error the recommendation may give up (0.005 = 0.5 pp)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_review)

    p = commands.add_parser("diff", help="two runs compared: sizes, errors with significance, layers by depth")
    add_analysis(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff)

    p = commands.add_parser("runs", help="list the runs")
    add_runs(p)
    _add_cache(p)
    _add_formats(p)
    p.set_defaults(func=cmd_runs)

    p = commands.add_parser("sweeps", help="list the recorded sweeps, their runs, how many are finished, seed spread")
    add_runs(p)
    p.add_argument("--sweep", default=None, help="only this sweep")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sweeps)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (`... --csv | head`): not an error; stop Python complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
