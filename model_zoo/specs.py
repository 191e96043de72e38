"""The CNN family as data: one table of layer plans, and a registry of named specs.

In the manner of torchvision's ``models/vgg.py``: a plan is a tuple whose ints are
3×3 conv widths and whose strings are pools. ``"M"`` is a 2×2 max-pool with stride 2
(halves the map); ``"P"`` is a 3×3 max-pool with stride 1 and padding 1 (keeps the
size), which lets DeepCNN have twice BaseCNN's pools on a 32×32 input.
Exact channel counts were not published by Liu et al. (VAST 2016); docs/model-family.md
explains this reconstruction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HALVING_POOL = "M"
SIZE_KEEPING_POOL = "P"
POOLS = (HALVING_POOL, SIZE_KEEPING_POOL)

LayerPlan = tuple[int | str, ...]

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


class UnknownModelError(KeyError):
    """A model name is not in the registry; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    """One member of the family: a layer plan, the FC head and a width multiplier."""

    name: str
    plan: LayerPlan
    fc_hidden: int = 512
    width: float = 1.0
    title: str = ""
    description: str = ""
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not MODEL_NAME_PATTERN.match(self.name):
            raise ValueError(f"model name {self.name!r} must match {MODEL_NAME_PATTERN.pattern}")
        for entry in self.plan:
            if isinstance(entry, str) and entry not in POOLS:
                raise ValueError(f"{self.name}: plan entry {entry!r} is neither a conv width nor one of {POOLS}")
            if isinstance(entry, int) and entry < 1:
                raise ValueError(f"{self.name}: conv width {entry} must be positive")
        if self.width <= 0:
            raise ValueError(f"{self.name}: width multiplier must be positive, got {self.width}")
        if not self.plan or not isinstance(self.plan[0], int):
            raise ValueError(f"{self.name}: a plan must start with a conv layer")

    @property
    def conv_layers(self) -> int:
        return sum(isinstance(entry, int) for entry in self.plan)

    @property
    def pool_layers(self) -> int:
        return sum(entry in POOLS for entry in self.plan)

    @property
    def halving_pools(self) -> int:
        return sum(entry == HALVING_POOL for entry in self.plan)

    @property
    def fc_layers(self) -> int:
        """Hidden FC layer plus the classifier layer."""
        return 2


def doubled_plan(plan: LayerPlan) -> LayerPlan:
    """Repeat every conv stage of ``plan``, separated by a size-keeping pool.

    Each stage ``c … c M`` becomes ``c … c P c … c M``: twice the conv and pool layers,
    and the same spatial schedule as the original, so a layer at a given relative depth
    sees the same map size in both nets.
    """
    doubled: list[int | str] = []
    stage: list[int | str] = []
    for entry in plan:
        if entry == HALVING_POOL:
            doubled += [*stage, SIZE_KEEPING_POOL, *stage, HALVING_POOL]
            stage = []
        else:
            stage.append(entry)
    return tuple(doubled + stage)


BASE_PLAN: LayerPlan = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")
# ShallowCNN: BaseCNN without its last stage (3 conv + 1 pool fewer).
SHALLOW_PLAN: LayerPlan = BASE_PLAN[:10]
DEEP_PLAN: LayerPlan = doubled_plan(BASE_PLAN)
WIDTH_MULTIPLIERS = (0.25, 0.5, 2.0, 4.0)

FAMILY: tuple[ModelSpec, ...] = (
    ModelSpec(
        "base",
        BASE_PLAN,
        title="BaseCNN",
        aliases=("base_x1",),
        description="10 conv, 4 max-pool, 2 FC; the paper's reference net (11.32% CIFAR-10 test error)",
    ),
    ModelSpec(
        "shallow",
        SHALLOW_PLAN,
        title="ShallowCNN",
        description="BaseCNN without its last conv stage: 7 conv, 3 max-pool, 2 FC",
    ),
    ModelSpec(
        "deep",
        DEEP_PLAN,
        title="DeepCNN",
        description="every conv stage of BaseCNN doubled: 20 conv, 8 max-pool (4 keep the size), 2 FC",
    ),
    *(
        ModelSpec(
            f"base_x{w:g}",
            BASE_PLAN,
            width=w,
            title=f"BaseCNN×{w:g}",
            description=f"BaseCNN with every conv and hidden FC width × {w:g}",
        )
        for w in WIDTH_MULTIPLIERS
    ),
)

_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a spec (and its aliases) to the registry; refuses to shadow a name unless ``replace``."""
    for name in (spec.name, *spec.aliases):
        taken = name in _REGISTRY or name in _ALIASES
        if taken and not replace:
            raise ValueError(f"model name {name!r} is already registered")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def canonical_name(name: str) -> str:
    """Resolve an alias (``base_x1`` → ``base``); raise UnknownModelError for unknown names."""
    name = _ALIASES.get(name, name)
    if name not in _REGISTRY:
        known = ", ".join(model_names(include_aliases=True))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
    return name


def get_spec(name: str) -> ModelSpec:
    """The registered spec for ``name`` (aliases accepted)."""
    return _REGISTRY[canonical_name(name)]


def model_names(include_aliases: bool = False) -> list[str]:
    """Registered model names in table order."""
    names = list(_REGISTRY)
    return names + list(_ALIASES) if include_aliases else names


for _spec in FAMILY:
    register(_spec)
