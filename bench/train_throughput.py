"""Training throughput: our loop vs a plain tutorial loop, and vs the machine's matmul limit.

Both loops train BaseCNN with the same width, batch and image count in this same process:
- plain: fp32, NCHW, torchvision per-image PIL transforms (crop + flip) through a DataLoader;
- ours:  analysis.training.trainer.Trainer (uint8 tensors in memory, whole-batch augmentation,
  channels_last, bf16 autocast where the CPU multiplies bf16 natively, else fp32).
The limit is the matmul peak, measured here in the precision our loop uses, divided by the
training FLOPs per image (forward FLOPs × 3: forward, input gradient, weight gradient).

Usage: python bench/train_throughput.py [--images 1280] [--demo-images 6400] [--batch 64]
The last line prints the ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.data.datasets import make_synthetic
from analysis.runs.store import RunStore
from analysis.training.evaluation import resolve_precision
from analysis.training.profiles import TrainingProfile
from analysis.training.trainer import Trainer
from model_zoo import build_model, count_flops


def matmul_peak_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` GFLOP/s of a square matrix multiply in ``dtype``."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def plain_loop_images_per_s(images: torch.Tensor, labels: torch.Tensor, width_scale: float, batch: int) -> float:
    """The PyTorch tutorial's way: PIL images, per-image transforms, a DataLoader, fp32 NCHW."""
    from torchvision import transforms
    from torchvision.transforms.functional import to_pil_image

    pil_images = [to_pil_image(image) for image in images]  # setup, not timed
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
        ]
    )

    class PilDataset(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(pil_images)

        def __getitem__(self, index: int):
            return transform(pil_images[index]), int(labels[index])

    torch.manual_seed(0)
    model = build_model("base", width_scale=width_scale)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loader = torch.utils.data.DataLoader(PilDataset(), batch_size=batch, shuffle=True, num_workers=0)

    def epoch() -> float:
        model.train()
        start = time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return len(pil_images) / (time.perf_counter() - start)

    epoch()  # warm-up: kernel selection and allocator
    return epoch()


def our_images_per_s(images: torch.Tensor, labels: torch.Tensor, width_scale: float, batch: int) -> float:
    """Our trainer end to end; the second epoch's training throughput (the first warms up)."""
    dataset = make_synthetic(n_train=len(images), n_test=batch, seed=1)
    profile = TrainingProfile(
        "bench",
        epochs=2,
        batch_size=batch,
        learning_rate=0.01,
        width_scale=width_scale,
        max_train_images=None,
        max_test_images=None,
    )
    with tempfile.TemporaryDirectory() as runs:
        store = RunStore(runs)
        Trainer(store, profile, device="cpu", progress=False, snapshot_epochs=(2,)).fit("base", dataset, "bench")
        return store.read_history("bench")[-1]["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1280, help="images per epoch at full width")
    parser.add_argument("--demo-images", type=int, default=6400, help="images per epoch at demo width (÷4)")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}"
    )
    precision = resolve_precision("auto", torch.device("cpu"))
    peaks = {name: matmul_peak_gflops(dtype) for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))}
    peak = peaks[precision]
    forward_gflop = count_flops(build_model("base")) / 1e9
    limit = peak / (3 * forward_gflop)
    print(
        f"matmul peak: bf16 {peaks['bf16']:.0f}, fp32 {peaks['fp32']:.0f} GFLOP/s; our loop uses {precision}; "
        f"BaseCNN forward {forward_gflop:.3f} GFLOP/image → training limit {limit:.0f} images/s"
    )

    results = {}
    for label, width_scale, n in (("full width", 1.0, args.images), ("demo width ÷4", 0.25, args.demo_images)):
        data = make_synthetic(n_train=n, n_test=args.batch, seed=1)
        plain = plain_loop_images_per_s(data.train_images, data.train_labels, width_scale, args.batch)
        ours = our_images_per_s(data.train_images, data.train_labels, width_scale, args.batch)
        results[label] = (plain, ours)
        extra = f", {ours / limit:.0%} of the {precision} limit" if width_scale == 1.0 else ""
        print(f"{label:>14}: plain loop {plain:7.0f} img/s | ours {ours:7.0f} img/s{extra}")
    (p_full, o_full), (p_demo, o_demo) = results.values()
    print(
        f"ratio ours/plain: full width {o_full / p_full:.2f}× (limit {limit / p_full:.2f}×, target ≥ "
        f"{0.8 * limit / p_full:.2f}×), demo width {o_demo / p_demo:.2f}× (target ≥ 3×)"
    )


if __name__ == "__main__":
    main()
