"""What the networks are: the family's spec table, one builder, a registry. No training code."""

from .builder import AnalysableLayer, FamilyCNN, ModelOptions, build_model, scaled_width
from .complexity import count_flops, count_parameters
from .specs import (
    FAMILY,
    ModelSpec,
    UnknownModelError,
    canonical_name,
    get_spec,
    model_names,
    register,
)


def describe_model(name: str, options: ModelOptions | None = None) -> dict:
    """A JSON-able summary of a registered model: layer counts, width, parameters and FLOPs."""
    spec = get_spec(name)
    options = options or ModelOptions()
    model = build_model(spec, options)
    return {
        "name": spec.name,
        "title": spec.title or spec.name,
        "aliases": list(spec.aliases),
        "description": spec.description,
        "conv_layers": spec.conv_layers,
        "pool_layers": spec.pool_layers,
        "fc_layers": spec.fc_layers,
        "depth": spec.conv_layers + spec.fc_layers,
        "width": spec.width,
        "width_scale": options.width_scale,
        "params": count_parameters(model),
        "flops": count_flops(model),
    }


__all__ = [
    "FAMILY",
    "AnalysableLayer",
    "FamilyCNN",
    "ModelOptions",
    "ModelSpec",
    "UnknownModelError",
    "build_model",
    "canonical_name",
    "count_flops",
    "count_parameters",
    "describe_model",
    "get_spec",
    "model_names",
    "register",
    "scaled_width",
]
