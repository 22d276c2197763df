"""Bring your own proxy: a function defined in this file goes through evaluate_proxy and the CLI
on the real Indian Pines (a few architectures), lands in a loadable table set and is ranked
against OA next to the built-ins; every way a user function can go wrong is a recorded reason
or a typed error."""
from __future__ import annotations


import numpy as np
import pytest

from hytasbench import Benchmark, space
from hytasbench.byop import UserProxy, call, checked_value
from hytasbench.errors import (BuildError, InvalidArchitectureError, InvalidSampleError, UnknownDatasetError,
                               UserProxyError)

torch = pytest.importorskip("torch")

ARCHS = [1, 397, 551, 1846]  # two wide, two of the smallest (embed 32)


def head_norm(model, batch):
    """A user proxy: the norm of the classifier's response to the batch."""
    with torch.no_grad():
        return float(model(batch.x).norm())


def picky(model, batch):
    """Fails for wide networks, returns a tensor for id 551's width, a float otherwise."""
    width = model.config.embed_dim
    if width > 100:
        raise RuntimeError("too wide for me")
    return torch.tensor(1.0) if len(model.config.num_heads) == 4 and width == 32 and batch.x.shape[0] > 99 else 2.5


def mutating(model, batch):
    batch.x.zero_()
    return 1.0


@pytest.fixture(scope="module")
def data_root(shared_datasets):
    if not (shared_datasets / "indian_pines").is_dir():
        pytest.skip("the real Indian Pines files are not in the shared datasets folder")
    return str(shared_datasets)


def test_evaluate_proxy_end_to_end_on_real_indian_pines(tmp_path, data_root, reference_tables):
    from hytasbench import evaluate_proxy

    ev = evaluate_proxy(head_norm, "indian_pines", ARCHS, workers=1, out=tmp_path / "mine", data_root=data_root,
                        oa_source=str(reference_tables), compare=(str(reference_tables),), n_boot=100)
    assert sorted(ev.scores["arch_id"]) == ARCHS and ev.scores["error"].isna().all()
    # the scores are the function's value on the kernels' model and batch, recomputed here
    from hytasbench.proxies.batch import proxy_batch
    from hytasbench.proxies.engine import build_scoring_model

    batch = proxy_batch("indian_pines", 0, data_root)
    expected = head_norm(build_scoring_model(397, "indian_pines", 0), batch)
    got = ev.scores.set_index("arch_id").loc[397, "score"]
    assert got == pytest.approx(expected, rel=1e-6)
    # a loadable table set with the user's column and its declaration
    bench = Benchmark(source=tmp_path / "mine")
    rec = bench.query(397, "indian_pines")
    assert rec["head_norm"] == pytest.approx(expected, rel=1e-6) and rec.params > 0
    assert bench.manifest()["proxies"]["head_norm"]["orientation"] == 1
    # the summary: the user's row and the published built-ins on the same four architectures
    mine = ev.summary.set_index("proxy").loc["head_norm (seed 0)"]
    assert mine["n"] == 4 and -1 <= mine["rho"] <= 1 and mine["source"] == "user"
    assert (ev.summary["n"] == 4).all()
    assert {"synflow", "flops"} <= {p.split(" (")[0] for p in ev.summary["proxy"]}
    oa = Benchmark(source=reference_tables).frame("indian_pines").set_index("arch_id").loc[ARCHS, "metric_oa"]
    order = ev.scores.set_index("arch_id").loc[ARCHS, "score"]
    from scipy.stats import spearmanr

    assert mine["rho"] == pytest.approx(spearmanr(order, oa).statistic, abs=1e-9)


@pytest.mark.slow
def test_failures_are_recorded_per_unit_and_the_cli_resumes(tmp_path, data_root, reference_tables, capsys):
    from hytasbench.cli import main

    argv = ["evaluate-proxy", f"{__file__}:picky", "--archs", ",".join(map(str, ARCHS)), "--workers", "1",
            "--out", str(tmp_path / "p"), "--oa-source", str(reference_tables), "--data-root", data_root,
            "--n-boot", "0"]
    assert main(argv) == 0
    frame = Benchmark(source=tmp_path / "p").frame("indian_pines").set_index("arch_id")
    wide = [a for a in ARCHS if space.parse(a).embed_dim > 100]
    assert wide and frame.loc[wide, "proxy_picky"].isna().all()
    assert all("RuntimeError: too wide for me" in e for e in frame.loc[wide, "proxy_picky__error"])
    narrow = [a for a in ARCHS if a not in wide]
    assert (frame.loc[narrow, "proxy_picky"] == 2.5).all()
    assert (tmp_path / "p" / "evaluation.md").is_file()
    assert "no score" in capsys.readouterr().err
    # the same command again: nothing left to run, the same table
    before = (tmp_path / "p" / "manifest.json").read_text()
    assert main(argv) == 0
    after = Benchmark(source=tmp_path / "p").frame("indian_pines").set_index("arch_id")
    assert after["proxy_picky"].equals(frame["proxy_picky"])
    assert '"proxies"' in before


@pytest.mark.parametrize("value, ok", [
    (1, True), (2.5, True), (np.float32(3.0), True), (np.int64(4), True),
    (float("nan"), False), (float("inf"), False), (True, False), (None, False), ("1.0", False),
    (np.array([1.0, 2.0]), False), ([1.0], False), (10 ** 400, False), (-(10 ** 400), False)])
def test_checked_value(value, ok):
    score, error = checked_value(value)
    assert (score is not None) == ok and (error is None) == ok
    if ok:
        assert score == float(value)


def test_tensors_and_exceptions_become_reasons_and_the_batch_is_private():
    from hytasbench.proxies.batch import ProxyBatch

    batch = ProxyBatch("toy", torch.ones(3, 4, 5), torch.arange(3), (), 0)
    score, error = call(lambda m, b: torch.tensor(1.0), None, batch, 0)
    assert score is None and "torch.Tensor" in error and ".item()" in error
    score, error = call(lambda m, b: 1 / 0, None, batch, 0)
    assert score is None and "ZeroDivisionError" in error
    assert call(mutating, None, batch, 0) == (1.0, None)
    assert torch.equal(batch.x, torch.ones(3, 4, 5)), "the user changed the shared batch"
    draws = [call(lambda m, b: float(torch.rand(1)), None, batch, 7)[0] for _ in range(2)]
    assert draws[0] == draws[1], "the RNG is seeded per call"


def test_bad_user_proxies_are_typed_errors(tmp_path):
    with pytest.raises(UserProxyError, match="top level"):
        UserProxy.from_function(lambda m, b: 1.0)
    with pytest.raises(UserProxyError, match="not callable"):
        UserProxy.from_function(42)
    with pytest.raises(UserProxyError, match="does not exist"):
        UserProxy.from_spec(str(tmp_path / "nope.py") + ":f")
    with pytest.raises(UserProxyError, match="FILE.py:FUNCTION"):
        UserProxy.from_spec("no_colon")
    with pytest.raises(UserProxyError, match="no function 'nothing'"):
        UserProxy.from_spec(f"{__file__}:nothing")
    with pytest.raises(UserProxyError, match="built-in"):
        UserProxy.from_function(head_norm, name="snip")
    with pytest.raises(UserProxyError, match="lower-case"):
        UserProxy.from_function(head_norm, name="Bad Name")
    with pytest.raises(UserProxyError, match="orientation"):
        UserProxy.from_function(head_norm, orientation=0)
    broken = tmp_path / "broken.py"
    broken.write_text("def f(model, batch):\n    return 1.0\nraise ImportError('missing dependency')\n")
    with pytest.raises(UserProxyError, match="ImportError: missing dependency"):
        UserProxy.from_spec(f"{broken}:f")


def test_a_changed_file_is_a_different_proxy(tmp_path):
    f = tmp_path / "p.py"
    f.write_text("def p(model, batch):\n    return 1.0\n")
    a = UserProxy.from_spec(f"{f}:p")
    f.write_text("def p(model, batch):\n    return 2.0\n")
    b = UserProxy.from_spec(f"{f}:p")
    assert a.tag != b.tag and a.name == b.name == "p"


def test_evaluate_proxy_refuses_bad_arguments_before_any_work(tmp_path):
    from hytasbench import evaluate_proxy

    with pytest.raises(BuildError, match="workers"):
        evaluate_proxy(head_norm, workers=0, out=tmp_path / "x", oa_source=str(tmp_path))
    with pytest.raises(BuildError, match="seeds"):
        evaluate_proxy(head_norm, seeds=(-1,), out=tmp_path / "x", oa_source=str(tmp_path))
    with pytest.raises(Exception, match="OA source"):
        evaluate_proxy(head_norm, out=tmp_path / "x", oa_source=str(tmp_path / "missing"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.work").exists()


def test_stratified_sample_is_seeded_proportional_and_checked():
    from collections import Counter

    from hytasbench.errors import InvalidSampleError

    a, b, c = space.stratified_sample(300), space.stratified_sample(300), space.stratified_sample(300, seed=1)
    assert a == b and a != c and len(set(a)) == 300
    assert [x.id for x in a] == sorted(x.id for x in a)
    pool = Counter((x.embed_dim, x.depth) for x in space.hytas2000())
    got = Counter((x.embed_dim, x.depth) for x in a)
    for stratum, size in pool.items():
        assert abs(got.get(stratum, 0) - 300 * size / 2000) < 1.0, stratum
    for bad in (0, 2001, 2.5, True, "300"):
        with pytest.raises(InvalidSampleError):
            space.stratified_sample(bad)
    sub = space.stratified_sample(30, 0, pool=space.hytas2000()[:200])  # a sample of what a table has
    assert len(sub) == 30 and all(a.id <= 200 for a in sub)
    assert space.select("sample:12:3") == list(space.stratified_sample(12, 3))


class _BadFloat(float):
    """A real number whose conversion to float fails."""

    def __float__(self):
        raise RuntimeError("no float for you")


def test_a_score_that_is_no_float_is_a_reason_not_a_crash():
    from hytasbench.proxies.batch import ProxyBatch

    assert checked_value(10 ** 400) == (None, checked_value(10 ** 400)[1])
    assert "OverflowError" in checked_value(10 ** 400)[1]
    batch = ProxyBatch("toy", torch.ones(3, 4, 5), torch.arange(3), (), 0)
    score, error = call(lambda m, b: 10 ** 400, None, batch, 0)
    assert score is None and "OverflowError" in error
    score, error = call(lambda m, b: _BadFloat(1.0), None, batch, 0)
    assert score is None and "no float for you" in error


@pytest.mark.parametrize("orientation", [True, False, 1.0, -1.0, 0, 2, "1", None])
def test_orientation_must_be_the_integer_1_or_minus_1(orientation):
    from hytasbench.byop import as_proxy

    with pytest.raises(UserProxyError, match="orientation"):
        as_proxy(head_norm, orientation=orientation)


def test_orientation_may_be_a_numpy_integer_and_is_stored_as_int():
    from hytasbench.byop import as_proxy

    proxy = as_proxy(head_norm, orientation=np.int64(-1))
    assert proxy.orientation == -1 and type(proxy.orientation) is int


@pytest.mark.parametrize("name, match", [
    (5, "lower-case"), (b"x", "lower-case"), ("", "lower-case"), (["a"], "lower-case"),
    ("az_nas", "ensemble"), ("snip", "built-in"), ("oa", "table field"), ("flops", "built-in"), ("seed", "field")])
def test_bad_or_clashing_names_are_refused(name, match):
    from hytasbench.byop import as_proxy

    with pytest.raises(UserProxyError, match=match):
        as_proxy(head_norm, name=name)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"seeds": ["x"]}, BuildError, "seeds"), ({"seeds": 5}, BuildError, "seeds"),
    ({"seeds": [1.7]}, BuildError, "1.7"), ({"seeds": [True]}, BuildError, "True"),
    ({"seeds": []}, BuildError, "at least one"), ({"seeds": "ab"}, BuildError, "seeds"),
    ({"seeds": [2 ** 32]}, BuildError, "seeds"), ({"sample_seed": 1.5}, BuildError, "sample_seed"),
    ({"workers": True}, BuildError, "workers"), ({"dataset": "mars"}, UnknownDatasetError, "mars"),
    ({"dataset": 5}, UnknownDatasetError, "indian_pines"), ({"archs": -5}, InvalidSampleError, "-5"),
    ({"archs": 0}, InvalidSampleError, "1..2000"), ({"archs": 2001}, InvalidSampleError, "2001"),
    ({"archs": True}, InvalidSampleError, "sample size"), ({"archs": ["e1-h1-r1"]}, Exception, "embed_dim"),
    ({"archs": "5-1"}, InvalidSampleError, "empty"), ({"archs": "sample:x"}, InvalidSampleError, "sample:N"),
    ({"archs": "1-3,e9-h1-r1"}, InvalidArchitectureError, "embed_dim"),
    ({"archs": "@no-such-file.txt"}, InvalidSampleError, "cannot read"), ({"archs": 3.0}, InvalidSampleError, "3.0"),
    ({"archs": None}, InvalidSampleError, "None"), ({"archs": []}, InvalidSampleError, "empty"),
    ({"archs": {"1": 1}}, InvalidSampleError, "a list of architectures")])
def test_evaluate_proxy_names_the_bad_argument_before_any_work(tmp_path, monkeypatch, kwargs, error, match):
    from hytasbench import evaluate
    from hytasbench.errors import HytasError

    monkeypatch.setattr(evaluate, "_run_builder", lambda argv: pytest.fail(f"the builder ran: {argv}"))
    with pytest.raises(error, match=match) as info:
        evaluate.evaluate_proxy(head_norm, out=tmp_path / "x", oa_source=str(tmp_path), **kwargs)
    assert isinstance(info.value, HytasError)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.work").exists()
