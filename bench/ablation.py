"""Cost of the ablation step against the rest of ``analyze`` on the same runs.

The ablation re-evaluates the test images once per variant (per layer with near-duplicates:
removed and merged; per layer with dead units; the whole model twice), sharing the unchanged
prefix of the network per batch. Target: ``analyze`` with the ablation ≤ 2× ``analyze`` without
it, measured here on freshly trained runs (the profile's widths and data subset; digits by default), each step
timed on a cold cache. The limit is printed with the ratio.

Usage: python bench/ablation.py [--profile demo] [--epochs 2] [--models base shallow] [--dataset digits]
The last line prints the ratio for the final weights alone and with the snapshots.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT = 2.0  # analyze with the ablation, over analyze without it
ABLATION_STEP = "ablation"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["base", "shallow"])
    parser.add_argument("--dataset", default="digits", help="digits (offline), synthetic or cifar10")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from analysis.cache import AnalysisCache
    from analysis.data.datasets import load_dataset
    from analysis.pipeline import RunAnalyzer
    from analysis.runs.store import RunStore
    from analysis.training.profiles import get_profile
    from analysis.training.trainer import Trainer

    profile = get_profile(args.profile).with_epochs(args.epochs)
    dataset = load_dataset(args.dataset, log=None).subset(profile.max_train_images, profile.max_test_images)
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        trainer = Trainer(store, profile, device=args.device, progress=False)
        for model in args.models:
            trainer.fit(model, dataset)
        analyzer = RunAnalyzer(store, AnalysisCache(Path(folder) / "cache"), device=args.device)
        final = snapshots = ablation = 0.0
        for run in store.names():
            seconds = {}
            for label, step in analyzer.steps(run, snapshots=True):
                started = time.perf_counter()
                step()
                seconds[label] = time.perf_counter() - started
            spent = sum(s for label, s in seconds.items() if not label.startswith(ABLATION_STEP))
            final_only = sum(
                s
                for label, s in seconds.items()
                if not label.startswith(ABLATION_STEP) and ("final weights" in label or "(" not in label)
            )
            cost = sum(s for label, s in seconds.items() if label.startswith(ABLATION_STEP))
            result = analyzer.ablation(run)
            variants = sum(2 * (row["n_flagged"] > 0) + (row["n_dead"] > 0) for row in result["layers"]) + 2
            print(
                f"{run}: analysis {spent:.2f} s ({final_only:.2f} s final weights only), ablation {cost:.2f} s "
                f"({variants} variants over {result['n_images']} images; whole model: "
                f"{result['whole_model']['n_flagged']} of {result['whole_model']['n_neurons']} neurons merged, "
                f"{100 * (result['whole_model']['merged_error_change'] or 0):+.1f} pp)"
            )
            final, snapshots, ablation = final + final_only, snapshots + spent, ablation + cost
        ratio_final = (final + ablation) / final
        ratio_all = (snapshots + ablation) / snapshots
        print(
            f"analyze with/without ablation: {ratio_all:.2f}x with snapshots, {ratio_final:.2f}x final weights "
            f"only (limit {LIMIT:.1f}x)"
        )
    return 0 if ratio_all <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
