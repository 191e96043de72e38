"""Training profiles: how long, how wide and on how much data a run trains.

``quick`` runs in seconds for tests; ``demo`` trains the whole family on 2 CPU cores in
about ten minutes (widths ÷ 4, 5,000 training images, evaluated on the whole test split; the
learning curves on its first 2,000 images); ``paper`` is the full-width family on full CIFAR-10,
meant for a GPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

# The seed that picks a profile's data subset: fixed, so every seed of a model sees the same images.
DATA_SEED = 0


@dataclass(frozen=True)
class TrainingProfile:
    """Hyper-parameters of one profile; ``None`` limits mean the whole split."""

    name: str
    epochs: int
    batch_size: int
    learning_rate: float
    width_scale: float
    dropout: float = 0.0
    batch_norm: bool = True
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    max_train_images: int | None = None
    max_test_images: int | None = None
    augment: bool = True
    # Images of each split the per-epoch learning curves are measured on (None: the whole split). The final
    # train and test errors always use every image the run has.
    curve_images: int | None = None
    description: str = ""

    def with_epochs(self, epochs: int | None) -> TrainingProfile:
        if epochs is None:
            return self
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        return replace(self, epochs=epochs)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, TrainingProfile] = {
    "quick": TrainingProfile(
        "quick",
        epochs=2,
        batch_size=64,
        learning_rate=0.05,
        width_scale=1 / 16,
        warmup_epochs=0.5,
        max_train_images=512,
        max_test_images=256,
        description="seconds per model; for tests and smoke checks",
    ),
    "demo": TrainingProfile(
        "demo",
        epochs=15,
        batch_size=64,
        learning_rate=0.05,
        width_scale=0.25,
        max_train_images=5000,
        # The whole test split (10,000 images on CIFAR-10 and Fashion-MNIST): a test error's 95 % interval
        # is about ±0.6 points there, against ±1.3 on 2,000, so models can be told apart from noise.
        max_test_images=None,
        curve_images=2000,
        description="widths ÷ 4, 5,000 training images, the whole test split; the family on 2 CPU cores in minutes",
    ),
    "paper": TrainingProfile(
        "paper",
        epochs=40,
        batch_size=128,
        learning_rate=0.1,
        width_scale=1.0,
        dropout=0.5,
        warmup_epochs=2.0,
        description="full widths on full CIFAR-10; meant for a GPU",
    ),
}


def get_profile(name: str) -> TrainingProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def default_snapshot_epochs(epochs: int) -> tuple[int, ...]:
    """Snapshots after the first epoch, at a quarter, half and three quarters, and at the end."""
    return tuple(sorted({1, max(1, epochs // 4), max(1, epochs // 2), max(1, 3 * epochs // 4), epochs}))
