"""The family table: layer counts, shapes, widths, registry, params and FLOPs."""

import pytest
import torch

from model_zoo import (
    FAMILY,
    ModelOptions,
    ModelSpec,
    UnknownModelError,
    build_model,
    canonical_name,
    count_flops,
    count_parameters,
    describe_model,
    get_spec,
    model_names,
    register,
)
from model_zoo.specs import doubled_plan

EXPECTED_COUNTS = {  # name: (conv, pool)
    "base": (10, 4),
    "shallow": (7, 3),
    "deep": (20, 8),
    "base_x0.25": (10, 4),
    "base_x0.5": (10, 4),
    "base_x2": (10, 4),
    "base_x4": (10, 4),
}


def test_registry_names_come_from_the_table():
    assert model_names() == [spec.name for spec in FAMILY]
    assert set(model_names()) == set(EXPECTED_COUNTS)
    assert canonical_name("base_x1") == "base"
    assert get_spec("base_x1") is get_spec("base")


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_layer_counts(name):
    conv, pool = EXPECTED_COUNTS[name]
    spec = get_spec(name)
    assert (spec.conv_layers, spec.pool_layers, spec.fc_layers) == (conv, pool, 2)
    model = build_model(name, width_scale=1 / 16)
    layers = model.analysable_layers()
    assert [layer.kind for layer in layers] == ["conv"] * conv + ["fc", "fc"]
    assert [layer.name for layer in layers] == [f"conv{i}" for i in range(1, conv + 1)] + ["fc1", "fc2"]
    pools = [n for n, _ in model.features.named_children() if n.startswith("pool")]
    assert len(pools) == pool
    assert layers[0].relative_depth == 0.0 and layers[-1].relative_depth == 1.0
    assert layers[-1].relu is False and all(layer.relu for layer in layers[:-1])


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_output_shapes(name):
    model = build_model(name, width_scale=1 / 16).eval()
    with torch.no_grad():
        assert model(torch.zeros(3, 3, 32, 32)).shape == (3, 10)


def test_deep_keeps_base_spatial_schedule():
    assert build_model("deep", width_scale=1 / 16).feature_shape[1:] == (2, 2)
    assert build_model("base", width_scale=1 / 16).feature_shape[1:] == (2, 2)
    assert build_model("shallow", width_scale=1 / 16).feature_shape[1:] == (4, 4)
    assert doubled_plan((8, "M", 16, "M")) == (8, "P", 8, "M", 16, "P", 16, "M")


def test_params_grow_about_as_width_squared():
    # Built at width ÷ 4 to keep the test light; the ratio to BaseCNN is what matters.
    base = count_parameters(build_model("base", width_scale=0.25))
    for name, w in [("base_x0.25", 0.25), ("base_x0.5", 0.5), ("base_x2", 2.0), ("base_x4", 4.0)]:
        ratio = count_parameters(build_model(name, width_scale=0.25)) / base
        assert 0.8 * w**2 <= ratio <= 1.2 * w**2, (name, ratio)


def test_full_width_base_matches_the_measured_size():
    info = describe_model("base")
    assert 8.5e6 < info["params"] < 8.9e6
    assert 0.55e9 < info["flops"] < 0.60e9  # torch's FlopCounterMode, 2 FLOPs per MAC


def test_flops_scale_with_width_scale():
    small = count_flops(build_model("base", width_scale=0.25))
    full = count_flops(build_model("base"))
    assert 12 < full / small < 20


def test_options_batch_norm_and_dropout():
    with_bn = build_model("shallow", width_scale=1 / 8)
    without = build_model("shallow", width_scale=1 / 8, batch_norm=False)
    assert with_bn.analysable_layers()[0].norm is not None
    assert without.analysable_layers()[0].norm is None
    assert without.analysable_layers()[0].weight.bias is not None
    dropped = build_model("base", width_scale=1 / 8, dropout=0.5)
    assert dropped.classifier.dropout.p == 0.5
    with pytest.raises(ValueError, match="dropout"):
        ModelOptions(dropout=1.5)
    with pytest.raises(ValueError, match="width_scale"):
        ModelOptions(width_scale=0)


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownModelError, match="known models: base"):
        get_spec("resnet")


def test_register_a_user_spec():
    spec = ModelSpec("tiny_test_net", (8, "M", 16, "M"), fc_hidden=32, title="Tiny")
    register(spec)
    try:
        model = build_model("tiny_test_net")
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
        with pytest.raises(ValueError, match="already registered"):
            register(spec)
    finally:
        from model_zoo import specs

        specs._REGISTRY.pop("tiny_test_net")


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="neither a conv width"):
        ModelSpec("bad", (8, "X"))
    with pytest.raises(ValueError, match="must match"):
        ModelSpec("../evil", (8,))
    with pytest.raises(ValueError, match="do not fit"):
        build_model(ModelSpec("too_many_pools", (8,) + ("M",) * 6))
