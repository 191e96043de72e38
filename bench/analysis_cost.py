"""Cost of the analysis pass against a plain forward pass over the same images, at N and 4N images.

The pass that scales with the number of images is the streaming activation pass behind
``analyze`` (class-activation matrices of every layer, top-k images, CKA samples, predictions).
Each measurement runs in its own subprocess; a thread samples its resident memory while the work
runs, and the figure reported is the peak above the memory held just before (images and model
already loaded): what the pass itself allocates. Targets: time ≤ 1.5× the forward pass; the
analysis pass's extra memory about flat in N.

Usage: python bench/analysis_cost.py [--images 2000] [--model base] [--width-scale 0.25]
The last line prints the time ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(kind: str, n: int, model_name: str, width_scale: float, repeats: int = 3) -> dict:
    """Runs inside a worker process: best-of-``repeats`` seconds of ``kind`` over ``n`` images, and peak RSS."""
    import torch

    from analysis.data.datasets import make_synthetic
    from analysis.probes.activations import ActivationPass
    from analysis.training.evaluation import Normalization, autocast, resolve_precision
    from model_zoo import build_model

    data = make_synthetic(n_train=10, n_test=n, seed=2)
    images, labels = data.test_images, data.test_labels
    normalization = Normalization(data.channel_mean, data.channel_std)
    model = build_model(model_name, width_scale=width_scale).to(memory_format=torch.channels_last).eval()
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    batch_size = 256

    @torch.inference_mode()
    def forward() -> None:
        for start in range(0, n, batch_size):
            batch = normalization(images[start : start + batch_size]).contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                model(batch).argmax(dim=1)

    def analysis_pass() -> None:
        ActivationPass(batch_size=batch_size, cka_sample=256, cka_spatial="flatten", precision=precision).run(
            model, images, labels, data.num_classes, normalization
        )

    work = forward if kind == "forward" else analysis_pass
    work()  # warm-up: kernel selection, allocator
    gc.collect()
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    done.set()
    sampler.join()
    return {"seconds": best, "extra_mb": (peak[0] - baseline) / 2**20}


def run_worker(kind: str, n: int, args: argparse.Namespace) -> dict:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            kind,
            "--images",
            str(n),
            "--model",
            args.model,
            "--width-scale",
            str(args.width_scale),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="N; the second measurement uses 4N")
    parser.add_argument("--model", default="base")
    parser.add_argument("--width-scale", type=float, default=0.25, help="0.25 = the demo profile's width")
    parser.add_argument("--worker", choices=["forward", "pass"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.images, args.model, args.width_scale)))
        return

    print(f"{args.model} × width {args.width_scale:g}, batch 256, CPU; best of 3 after a warm-up")
    ratios, extras = [], []
    for n in (args.images, 4 * args.images):
        forward = run_worker("forward", n, args)
        analysis = run_worker("pass", n, args)
        ratios.append(analysis["seconds"] / forward["seconds"])
        extras.append(analysis["extra_mb"])
        print(
            f"N={n:6d}: forward {forward['seconds']:.3f} s, analysis pass {analysis['seconds']:.3f} s "
            f"({n / analysis['seconds']:.0f} img/s); memory while working: forward +{forward['extra_mb']:.0f} MB, "
            f"analysis +{analysis['extra_mb']:.0f} MB"
        )
    print(f"memory the analysis pass allocates: {extras[0]:.0f} MB at N, {extras[1]:.0f} MB at 4N (target: flat)")
    print(f"time ratio analysis/forward: {ratios[0]:.2f}× at N, {ratios[1]:.2f}× at 4N (target ≤ 1.5×)")


if __name__ == "__main__":
    main()
