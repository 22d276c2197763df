"""A live recompute returns a plain table Record (a one-row table of source "live"): the same
lookup, short names and reasons as a table row (synthetic cube over the real label maps)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hytasbench.errors import UnknownFieldError  # noqa: E402
from hytasbench.devices import device_name  # noqa: E402
from hytasbench.live import NOT_TRAINED, recompute_record, score  # noqa: E402
from hytasbench.record import Record  # noqa: E402
from hytasbench.space import Arch  # noqa: E402

OUTSIDE = Arch(32, (3, 4, 5, 6), (1, 2, 1, 1))  # a small architecture that is not one of the 2000


@pytest.fixture(scope="module")
def live(shared_datasets):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kw = dict(proxies=["snip", "grasp"], data_root=str(shared_datasets), synthetic=True, seed=3)
        yield recompute_record(OUTSIDE, "ksc", **kw), score(OUTSIDE, "ksc", **kw)
    finally:
        torch.set_num_threads(before)


def test_live_record_is_a_table_record(live):
    rec, scores = live
    assert type(rec) is Record and rec.arch == OUTSIDE and rec.arch_id is None
    assert rec.snip == scores["snip"] and rec["proxy_grasp"] == scores["grasp"]
    assert {k for k in rec.proxies if "__" not in k} == {"snip", "grasp"} and "snip__layers" not in rec.proxies
    assert rec["grasp__attn"] == scores.results["grasp"].variants["attn"]
    assert rec.provenance["source"] == "live" and rec.provenance["seed"] == 3 and rec["dataset"] == "ksc"
    assert rec.provenance["device"] == device_name("cpu")


def test_live_record_reasons_follow_the_table_lookup(live):
    rec, _ = live
    assert rec.oa is None and rec.reason("oa") == NOT_TRAINED
    assert rec.params is None and rec.reason("params") == "no value"  # costs were not requested
    assert rec.reason("snip") is None
    # a proxy the run did not score reads like a column a table lacks, not like an unknown name
    assert rec.naswot is None and "no column 'naswot'" in rec.reason("naswot")
    with pytest.raises(AttributeError):
        rec.no_such_field
    with pytest.raises(UnknownFieldError):
        rec.reason("no_such_field")
