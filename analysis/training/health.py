"""Training health: anomalies in a run's per-epoch history, flagged in plain words (CNNVis' R5)."""

from __future__ import annotations

import math
from typing import Any

DEAD_UNITS_WARNING = 0.5  # a layer whose units are mostly dead on the probe batch
VANISHING_RATIO = 1e-3  # first layer's gradient norm relative to the last layer's
EXPLODING_GRADIENT = 1e3  # a gradient norm above this (after the first epoch) is exploding
PLATEAU_EPOCHS = 3  # test error not improved for this many epochs while train error falls


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def training_anomalies(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A list of ``{severity, epoch, layer, kind, message}``: what a reviewer should look at first."""
    found: list[dict[str, Any]] = []

    def flag(severity: str, kind: str, epoch: int | None, layer: str | None, message: str) -> None:
        found.append({"severity": severity, "kind": kind, "epoch": epoch, "layer": layer, "message": message})

    for row in history:
        if not all(_finite(row.get(key)) for key in ("fit_loss", "test_loss")):
            flag(
                "error",
                "diverged",
                row.get("epoch"),
                None,
                f"the loss is not finite at epoch {row.get('epoch')}: training diverged (lower the learning rate)",
            )
            break
    if not history:
        return found
    last = history[-1]
    health = last.get("health") or {}
    names = list(health)
    for name, figures in health.items():
        dead = figures.get("dead_fraction")
        if _finite(dead) and dead >= DEAD_UNITS_WARNING:
            flag(
                "warning",
                "dead_units",
                last["epoch"],
                name,
                f"{name}: {dead:.0%} of its units never fire on the probe images (dead ReLUs)",
            )
    for row in history:
        grads = {n: f.get("grad_norm") for n, f in (row.get("health") or {}).items()}
        exploding = [n for n, g in grads.items() if _finite(g) and g > EXPLODING_GRADIENT]
        if exploding and row["epoch"] > 1:
            flag(
                "error",
                "exploding_gradients",
                row["epoch"],
                exploding[0],
                f"gradient norms explode at epoch {row['epoch']} ({', '.join(exploding[:3])})",
            )
            break
    if len(names) >= 2:
        first, final = health[names[0]].get("grad_norm"), health[names[-1]].get("grad_norm")
        if _finite(first) and _finite(final) and final > 0 and first / final < VANISHING_RATIO:
            flag(
                "warning",
                "vanishing_gradients",
                last["epoch"],
                names[0],
                f"gradients vanish toward the input: {names[0]} gets {first / final:.1e}× the gradient "
                f"norm of {names[-1]}",
            )
    errors = [(row["epoch"], row.get("test_error"), row.get("train_error")) for row in history]
    best_epoch, best = min(((e, t) for e, t, _ in errors if _finite(t)), key=lambda x: x[1], default=(None, None))
    if best_epoch is not None and last["epoch"] - best_epoch >= PLATEAU_EPOCHS:
        train_then = next((tr for e, _, tr in errors if e == best_epoch), None)
        train_now = last.get("train_error")
        still_fitting = _finite(train_then) and _finite(train_now) and train_now < train_then
        flag(
            "info" if not still_fitting else "warning",
            "test_error_plateau",
            best_epoch,
            None,
            f"test error stopped falling after epoch {best_epoch} ({best:.1%})"
            + (f" while train error kept falling to {train_now:.1%}: over-fitting" if still_fitting else ""),
        )
    return found
