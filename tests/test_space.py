"""The search space: sampler parity with the authors' 2000 configs, parsing, validation, helpers."""
from __future__ import annotations

import random

import numpy as np
import pytest
import yaml

from hytasbench import space
from hytasbench.errors import InvalidArchitectureError, InvalidArgumentError, InvalidSampleError
from hytasbench.space import Arch

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader where PyYAML has it: 2000 files


def test_sampler_equals_the_authors_2000_configs_in_order(reference_dir):
    archs = space.hytas2000()
    assert len(archs) == 2000
    folder = reference_dir / "experiments" / "config2000"
    for i, arch in enumerate(archs, start=1):
        cfg = yaml.load((folder / f"configspace-hyper2-{i}.yaml").read_text(), Loader=SAFE_LOADER)["RETRAIN"]
        assert (cfg["DEPTH"], cfg["EMBED_DIM"], tuple(cfg["NUM_HEADS"]), tuple(cfg["MLP_RATIO"])) == \
            (arch.depth, arch.embed_dim, arch.num_heads, arch.mlp_ratio), f"config {i}"


def test_sample_has_no_duplicates_and_ids_are_one_based():
    archs = space.hytas2000()
    assert len(set(archs)) == 2000
    assert archs[0].id == 1 and archs[1999].id == 2000
    assert space.from_id(17) == archs[16]


def test_space_size_matches_a_hand_count():
    # 12 widths x sum over depth d of (4 heads x 6 ratios)^d
    assert space.space_size() == 12 * sum(24 ** d for d in range(4, 11))
    assert 7.9e14 < space.space_size() < 8.0e14


@pytest.mark.parametrize("arch", [space.from_id(1), space.from_id(2), Arch(32, (3,) * 4, (1,) * 4),
                                  Arch(240, (6,) * 10, (6,) * 10)])
def test_canonical_string_and_dict_round_trip(arch):
    text = str(arch)
    assert space.parse(text) == arch
    assert space.parse(arch.to_dict()) == arch
    assert space.parse(arch) is arch


def test_canonical_string_is_readable():
    arch = Arch(48, (4, 6, 6, 5, 3, 3), (4, 5, 1, 3, 4, 3))
    assert str(arch) == "e48-h466533-r451343"
    assert arch.depth == 6


def test_parse_accepts_ids_strings_upstream_dicts_and_yaml(reference_dir):
    cfg = yaml.safe_load((reference_dir / "experiments/config2000/configspace-hyper2-2.yaml").read_text())
    assert space.parse(cfg) == space.from_id(2)
    assert space.parse(2) == space.parse("2") == space.from_id(2)
    upstream_row = {"layer_num": 6, "embed_dim": "[48, 48, 48, 48, 48, 48]",
                    "num_heads": "[4, 6, 6, 5, 3, 3]", "mlp_ratio": "[4, 5, 1, 3, 4, 3]"}
    assert space.parse(upstream_row) == space.from_id(2)


@pytest.mark.parametrize("bad, field", [
    ({"embed_dim": 50, "num_heads": [3] * 4, "mlp_ratio": [1] * 4}, "embed_dim"),
    ({"embed_dim": 32, "num_heads": [3] * 3, "mlp_ratio": [1] * 3}, "depth"),
    ({"embed_dim": 32, "num_heads": [3, 3, 3, 7], "mlp_ratio": [1] * 4}, "num_heads[3]"),
    ({"embed_dim": 32, "num_heads": [3] * 4, "mlp_ratio": [1, 1, 0, 1]}, "mlp_ratio[2]"),
    ({"embed_dim": 32, "num_heads": [3] * 4, "mlp_ratio": [1] * 5}, "mlp_ratio"),
    ({"embed_dim": 32, "num_heads": [3] * 4}, "mlp_ratio"),
    ({"depth": 5, "embed_dim": 32, "num_heads": [3] * 4, "mlp_ratio": [1] * 4}, "depth"),
    ({"embed_dim": [32, 48, 32, 32], "num_heads": [3] * 4, "mlp_ratio": [1] * 4}, "embed_dim"),
    ({"embed_dim": 32, "num_heads": [3] * 4, "mlp_ratio": [1] * 4, "colour": 1}, "dict"),
    (0, "id"), (2001, "id"), ("e32-h333-r111", "depth"), ("resnet50", "arch"), (3.5, "arch"),
    (None, "arch"), (True, "arch"), ([1, 2], "arch"),
])
def test_invalid_architectures_name_the_field_and_the_allowed_values(bad, field):
    with pytest.raises(InvalidArchitectureError) as info:
        space.parse(bad)
    assert info.value.field == field
    assert field.split("[")[0] in str(info.value)


def test_error_lists_allowed_values():
    with pytest.raises(InvalidArchitectureError, match="allowed: 32, 48, 64"):
        Arch(33, (3,) * 4, (1,) * 4)


def test_neighbours_are_valid_distinct_and_one_edit_away():
    arch = space.from_id(5)
    nbrs = list(space.neighbours(arch))
    assert len(nbrs) == len(set(nbrs))
    assert arch not in nbrs
    # 11 other widths + per layer 3 other head counts and 5 other ratios + depth -1 and/or +1
    expected = 11 + arch.depth * (3 + 5) + (arch.depth > 4) + (arch.depth < 10)
    assert len(nbrs) == expected
    steps = space.EMBED_DIMS.index
    for n in nbrs:
        if n.embed_dim != arch.embed_dim:
            assert space.distance(arch, n) == abs(steps(n.embed_dim) - steps(arch.embed_dim))
        else:
            assert 0 < space.distance(arch, n) <= 2


def test_mutate_is_seeded_and_stays_in_the_space():
    a = [space.mutate(space.from_id(3), random.Random(7)) for _ in range(2)]
    assert a[0] == a[1]
    rng = random.Random(0)
    arch = space.from_id(1)
    for _ in range(500):
        new = space.mutate(arch, rng)
        assert new != arch
        space.validate(new)
        arch = new


def test_distance_is_a_metric_on_samples():
    archs = space.hytas2000()[:30]
    for x in archs:
        assert space.distance(x, x) == 0
        for y in archs[:10]:
            assert space.distance(x, y) == space.distance(y, x)
            if x != y:
                assert space.distance(x, y) > 0


def test_configspace_export_round_trips():
    pytest.importorskip("ConfigSpace")
    cs = space.to_configspace(seed=1)
    for config in cs.sample_configuration(50):
        arch = space.from_configuration(dict(config))
        assert arch.depth == config["depth"]
    assert "num_heads_9" in list(cs.keys())


@pytest.mark.parametrize("text", ["²", "١٢", "e３２-h3333-r1111", "-5", " 7 "])
def test_non_ascii_digits_and_signs(text):
    if text.strip() == "7":
        assert space.parse(text) == space.from_id(7)
        return
    with pytest.raises(InvalidArchitectureError):
        space.parse(text)


# -- bad input is a typed error, never a raw TypeError or a silent guess ---------------------------
@pytest.mark.parametrize("bad, field", [
    ("e" + "9" * 5000 + "-h4444-r1111", "embed_dim"),  # int() alone would refuse the 5000 digits
    ({"embed_dim": "9" * 5000, "num_heads": [3] * 4, "mlp_ratio": [1] * 4}, "embed_dim"),
    ({"embed_dim": 48, "num_heads": np.int64(4), "mlp_ratio": [4, 5, 1, 3]}, "num_heads"),
    ({"embed_dim": [48], "num_heads": [4, 6, 6, 5], "mlp_ratio": [4, 5, 1, 3]}, "embed_dim"),  # one per layer
    ({"embed_dim": [], "num_heads": [4, 6, 6, 5], "mlp_ratio": [4, 5, 1, 3]}, "embed_dim"),
    (1.0, "arch"), (np.float64(1.0), "arch"), (np.True_, "arch"),  # an id is an integer, not a float
])
def test_parse_refuses_with_a_typed_error(bad, field):
    with pytest.raises(InvalidArchitectureError) as info:
        space.parse(bad)
    assert info.value.field == field


def test_parse_takes_numpy_integers_and_the_per_layer_width():
    assert space.parse(np.int64(3)) == space.from_id(3)
    per_layer = {"embed_dim": [48] * 4, "num_heads": [4, 6, 6, 5], "mlp_ratio": np.array([4, 5, 1, 3])}
    assert space.parse(per_layer) == Arch(48, (4, 6, 6, 5), (4, 5, 1, 3))


@pytest.mark.parametrize("ident", [1.5, 1.0, "1", True, None])
def test_from_id_takes_only_an_integer(ident):
    with pytest.raises(InvalidArchitectureError, match="not an integer id") as info:
        space.from_id(ident)
    assert info.value.field == "id" and info.value.allowed == ["1..2000"]


def test_from_id_takes_a_numpy_integer():
    assert space.from_id(np.int32(5)) == space.from_id(5)


@pytest.mark.parametrize("heads, field", [(None, "num_heads"), (4, "num_heads"), ("4444", "num_heads")])
def test_arch_fields_must_be_per_layer_sequences(heads, field):
    with pytest.raises(InvalidArchitectureError, match="one integer per layer") as info:
        Arch(48, heads, (4, 5, 1, 3))
    assert info.value.field == field
    with pytest.raises(InvalidArchitectureError) as info:
        Arch(48, (4, 5, 1, 3), heads)
    assert info.value.field == "mlp_ratio"


@pytest.mark.parametrize("config, field", [(5, "configuration"), (None, "configuration"),
                                           ({"depth": 10 ** 9, "embed_dim": 48}, "depth")])
def test_from_configuration_refuses_what_is_not_a_configuration(config, field):
    with pytest.raises(InvalidArchitectureError) as info:
        space.from_configuration(config)
    assert info.value.field == field


@pytest.mark.parametrize("rng", [None, 0, np.random.default_rng(0)])
def test_mutate_needs_a_random_instance(rng):
    with pytest.raises(InvalidArgumentError, match="random.Random"):
        space.mutate(1, rng)


def test_stratified_sample_is_reproducible_and_needs_an_integer_seed():
    assert space.stratified_sample(5, seed=3) == space.stratified_sample(5, seed=np.int64(3))
    for seed in (None, "x", 1.0, True):
        with pytest.raises(InvalidSampleError, match="seed must be an integer"):
            space.stratified_sample(5, seed=seed)


@pytest.mark.parametrize("pool", ["12", b"12", {"1": 1}, 12])
def test_stratified_sample_pool_is_a_list_not_a_string(pool):
    with pytest.raises(InvalidSampleError, match="pool must be a list"):
        space.stratified_sample(1, pool=pool)
