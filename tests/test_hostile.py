"""Hostile input: the parser and query either succeed or raise one of the library's typed errors."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hytasbench import space
from hytasbench.errors import HytasError

ints = st.integers(min_value=-10, max_value=3000)
lists = st.lists(st.one_of(ints, st.text(max_size=3), st.floats(allow_nan=True)), max_size=12)
values = st.one_of(ints, st.text(max_size=30), st.floats(allow_nan=True, allow_infinity=True), lists, st.none(),
                   st.booleans(), st.binary(max_size=8))
arch_dicts = st.dictionaries(
    st.sampled_from(["depth", "layer_num", "embed_dim", "num_heads", "mlp_ratio", "EMBED_DIM", "x", "RETRAIN"]),
    values, max_size=5)
near_valid = st.builds(lambda e, h, r: f"e{e}-h{h}-r{r}", st.sampled_from([32, 48, 50, 240, 0]),
                       st.text("3456789", min_size=3, max_size=11), st.text("0123456", min_size=3, max_size=11))
anything = st.one_of(values, arch_dicts, near_valid,
                     st.fixed_dictionaries({"embed_dim": st.sampled_from(space.EMBED_DIMS),
                                            "num_heads": st.lists(st.integers(2, 7), min_size=3, max_size=11),
                                            "mlp_ratio": st.lists(st.integers(0, 7), min_size=3, max_size=11)}))


@settings(max_examples=1500, deadline=None)
@given(anything)
def test_parser_yields_an_arch_or_a_typed_error(value):
    try:
        arch = space.parse(value)
    except HytasError:
        return
    assert isinstance(arch, space.Arch)
    assert space.parse(str(arch)) == arch


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(anything, st.one_of(st.sampled_from(["indian", "ksc", "pavia", "houston"]), st.text(max_size=12), ints))
def test_query_yields_a_record_or_a_typed_error(small_bench, arch, dataset):
    try:
        rec = small_bench.query(arch, dataset)
    except HytasError:
        return
    assert rec["dataset"] in ("indian_pines", "ksc")
