"""One builder that turns any spec of the family into a module with named, analysable layers."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from .specs import HALVING_POOL, SIZE_KEEPING_POOL, ModelSpec, get_spec

LayerKind = Literal["conv", "fc"]


@dataclass(frozen=True)
class ModelOptions:
    """Options on every spec: a global width scale (the CPU profiles shrink the whole family), BN, dropout."""

    width_scale: float = 1.0
    batch_norm: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not self.width_scale > 0:
            raise ValueError(f"width_scale must be positive, got {self.width_scale}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AnalysableLayer:
    """A layer whose neurons (conv channels or FC units) the analysis looks at.

    ``module``'s output is the neurons' response (after ReLU where ``relu``); ``weight`` is
    the conv or linear layer that feeds it and ``norm`` its batch norm, if any.
    """

    name: str
    kind: LayerKind
    index: int
    relative_depth: float
    module: nn.Module
    weight: nn.Conv2d | nn.Linear
    norm: nn.BatchNorm2d | None
    relu: bool

    @property
    def n_neurons(self) -> int:
        return self.weight.out_channels if isinstance(self.weight, nn.Conv2d) else self.weight.out_features


def scaled_width(width: int, factor: float) -> int:
    """A channel count times a width factor, rounded, at least 1."""
    return max(1, round(width * factor))


class ConvUnit(nn.Sequential):
    """3×3 conv (+ batch norm) + ReLU: one conv layer of the paper."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool) -> None:
        parts: OrderedDict[str, nn.Module] = OrderedDict()
        parts["conv"] = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)
        if batch_norm:
            parts["bn"] = nn.BatchNorm2d(out_channels)
        parts["relu"] = nn.ReLU(inplace=True)
        super().__init__(parts)


class FCUnit(nn.Sequential):
    """Linear (+ ReLU): one fully connected layer."""

    def __init__(self, in_features: int, out_features: int, relu: bool) -> None:
        parts: OrderedDict[str, nn.Module] = OrderedDict(linear=nn.Linear(in_features, out_features))
        if relu:
            parts["relu"] = nn.ReLU(inplace=True)
        super().__init__(parts)


class FamilyCNN(nn.Module):
    """A member of the family: ``features`` (conv units and pools) then ``classifier`` (2 FC).

    Layer names are stable and readable (``conv1`` … ``convN``, ``pool1`` …, ``fc1``, ``fc2``),
    so checkpoints, analyses and pages refer to the same layer by the same name.
    """

    def __init__(
        self,
        spec: ModelSpec,
        options: ModelOptions = ModelOptions(),
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.options = options
        self.num_classes = num_classes
        self.input_size = input_size
        factor = spec.width * options.width_scale

        features: OrderedDict[str, nn.Module] = OrderedDict()
        channels, size, n_conv, n_pool = in_channels, input_size, 0, 0
        for entry in spec.plan:
            if entry == HALVING_POOL:
                n_pool += 1
                features[f"pool{n_pool}"] = nn.MaxPool2d(2, stride=2)
                size //= 2
            elif entry == SIZE_KEEPING_POOL:
                n_pool += 1
                features[f"pool{n_pool}"] = nn.MaxPool2d(3, stride=1, padding=1)
            else:
                n_conv += 1
                width = scaled_width(int(entry), factor)
                features[f"conv{n_conv}"] = ConvUnit(channels, width, options.batch_norm)
                channels = width
        if size < 1:
            raise ValueError(f"{spec.name}: {spec.halving_pools} halving pools do not fit a {input_size}px input")
        self.features = nn.Sequential(features)
        self.feature_shape = (channels, size, size)
        hidden = scaled_width(spec.fc_hidden, factor)
        self.classifier = nn.Sequential(
            OrderedDict(
                flatten=nn.Flatten(),
                fc1=FCUnit(channels * size * size, hidden, relu=True),
                dropout=nn.Dropout(options.dropout),
                fc2=FCUnit(hidden, num_classes, relu=False),
            )
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # VGG's initialisation: He-normal convs keep activations' scale through deep ReLU stacks.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))

    def analysable_layers(self) -> list[AnalysableLayer]:
        """Conv layers then FC layers, in forward order, with their relative depth in [0, 1]."""
        units: list[tuple[str, nn.Module]] = [
            (name, module) for name, module in self.features.named_children() if isinstance(module, ConvUnit)
        ]
        units += [(name, module) for name, module in self.classifier.named_children() if isinstance(module, FCUnit)]
        last = max(len(units) - 1, 1)
        layers = []
        for index, (name, unit) in enumerate(units):
            if isinstance(unit, ConvUnit):
                layers.append(
                    AnalysableLayer(
                        name, "conv", index, index / last, unit, unit.conv, getattr(unit, "bn", None), relu=True
                    )
                )
            else:
                layers.append(
                    AnalysableLayer(
                        name, "fc", index, index / last, unit, unit.linear, None, relu=hasattr(unit, "relu")
                    )
                )
        return layers


def build_model(
    spec: ModelSpec | str,
    options: ModelOptions | None = None,
    num_classes: int = 10,
    **option_overrides: float | bool,
) -> FamilyCNN:
    """Build a family member by spec or registered name, e.g. ``build_model("base_x2", width_scale=0.25)``."""
    if isinstance(spec, str):
        spec = get_spec(spec)
    options = options or ModelOptions()
    if option_overrides:
        options = ModelOptions(**{**options.to_dict(), **option_overrides})
    return FamilyCNN(spec, options, num_classes=num_classes)
