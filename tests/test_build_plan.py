"""The builder's parts (issue 16, item 5): plan_build selects without running, the explicit table
of unit runners, the one duration parser, and the train CLI's defaults from TrainConfig."""
from __future__ import annotations

import json
import math
import re

import pytest

from builders import build
from builders.units import KINDS, Unit, UnitRunner, RunnerConfig
from hytasbench.durations import parse_duration
from hytasbench.errors import BuildError, InvalidArgumentError, InvalidBudgetError
from hytasbench.nas.cli import parse_budget
from hytasbench.nas.runner import Budget


def _plan(tmp_path, *extra):
    argv = ["--device", "cpu", "--datasets", "ksc", "--archs", "1-3", "--work", str(tmp_path / "w"),
            "--out", str(tmp_path / "out"), *extra]
    return build.plan_build(build.parser().parse_args(argv), argv)


def test_plan_selects_units_and_runs_nothing(tmp_path):
    plan = _plan(tmp_path, "--kind", "proxies", "--seeds", "0-1")
    assert plan.kinds == ["cost", "proxies"] and plan.seeds == [0, 1] and plan.datasets == ["ksc"]
    assert [u.kind for u in plan.units] == ["cost"] * 3 + ["proxies"] * 6 and plan.mine == plan.units
    assert plan.source == build.DEFAULT_SOURCE and plan.proxies is None and plan.base is None
    assert plan.command.startswith("python -m builders.build --device cpu")
    assert plan.wd.done_keys() == set() and not (tmp_path / "out").exists()


def test_plan_with_data_free_and_a_shard(tmp_path):
    import hytasbench.proxies as proxies

    plan = _plan(tmp_path, "--data-free", "--shard", "1/2")
    assert "train" not in plan.kinds and plan.proxies and set(plan.proxies) <= set(proxies.data_free())
    assert {"params", "flops"}.isdisjoint(plan.proxies)
    assert 0 < len(plan.mine) < len(plan.units)
    with pytest.raises(BuildError, match="read pixels"):
        _plan(tmp_path, "--data-free", "--proxies", "snip")


def test_unit_runners_are_an_explicit_table():
    assert KINDS == ("cost", "proxies", "train")
    assert all(callable(f) for f in UnitRunner.RUNNERS.values())
    runner = UnitRunner(RunnerConfig())
    with pytest.raises(BuildError, match="unknown unit kind 'bogus'; allowed: cost, proxies, train"):
        runner.run(Unit("bogus", "ksc", "e48-h466533-r451343"))
    doc = runner.run(Unit("cost", "ksc", "e48-h466533-r451343", None))
    assert doc["columns"]["cost_params"] > 0 and doc["columns"]["cost_flops"] > 0


@pytest.mark.parametrize("text,seconds", [("3600", 3600), ("90s", 90), ("45m", 2700), ("2h", 7200),
                                          ("1h30m", 5400), ("1h 30m", 5400), ("1h30", 3630), ("1.5d", 129600),
                                          ("2min", 120), ("1e3", 1000), (" 10 sec ", 10)])
def test_one_duration_grammar_for_time_limits_and_budgets(text, seconds):
    assert parse_duration(text) == seconds
    assert build.parse_duration(text) == seconds
    assert parse_budget(text) == Budget(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "", "-3h", "h", "3 parsecs", "1h-30m", "5e", "1,5h"])
def test_unreadable_durations_are_typed_errors(text):
    with pytest.raises(InvalidArgumentError, match="cannot read the duration"):
        parse_duration(text)
    with pytest.raises(BuildError, match="time limit"):
        build.parse_duration(text)
    if text not in ("5e", "1,5h"):  # as budgets: 5 evaluations; two budgets, 1 s and 5 h
        with pytest.raises(InvalidBudgetError):
            parse_budget(text)


def test_budget_counts_next_to_a_duration():
    assert parse_budget("1h30m,100trainings,500e") == Budget(seconds=5400, trainings=100, evaluations=500)


def test_train_cli_defaults_are_the_protocol():
    from hytasbench.train import TrainConfig, parser

    args = parser().parse_args(["--arch", "1", "--dataset", "ksc"])
    default = TrainConfig()
    for name in ("epochs", "seed", "device", "threads", "eval_every", "batch_size", "test_subset"):
        assert getattr(args, name) == getattr(default, name), name


@pytest.mark.parametrize("option,message", [(["--datasets", ""], "--datasets '': no dataset given"),
                                            (["--datasets", " , "], "no dataset given"),
                                            (["--kind", ""], "--kind '': no kind given"),
                                            (["--seeds", "99999999999"], "--seeds must be an integer in 0..4294967295")])
def test_empty_selections_and_out_of_range_seeds_are_refused(tmp_path, option, message):
    with pytest.raises(BuildError, match=re.escape(message)):
        _plan(tmp_path, *option)
    assert not (tmp_path / "w").exists()


TRAINED = "e32-h4534-r1412"  # id 397


def _result(folder, name="r.json", **changes) -> str:
    """A training result as python -m hytasbench.train --out writes it (the fields ingest reads)."""
    doc = {"arch": TRAINED, "dataset": "ksc", "seed": 0, "protocol": "hytasbench-v1", "oa": 0.9, "aa": 0.85,
           "kappa": 0.88, "oa_best": 0.91, "class_acc": [0.8] * 13, "train_seconds": 12.5, "params": 1000,
           "flops": 2000, "device": "cpu:test x1 threads", "synthetic": False, **changes}
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(doc))
    return str(folder / name)


def test_ingest_stores_results_and_ignores_checkpoints_and_logs(tmp_path):
    folder = tmp_path / "results"
    _result(folder)
    (folder / "run.ckpt").write_bytes(b"\x80\x02binary")
    (folder / "run.log").write_text("epoch 1")
    (folder / "notes.json").write_text("{}")  # JSON, but no training result: skipped
    plan = _plan(tmp_path, "--kind", "train", "--ingest", str(folder))
    unit = next(u for u in plan.units if u.arch == TRAINED)
    assert plan.wd.result(unit.key)["columns"]["metric_oa"] == 0.9


def test_ingest_takes_what_the_trainer_writes_for_absent_recalls_and_whole_costs(tmp_path):
    """A class without test pixels has no recall (older results say NaN, newer null), and a cost
    may be a whole-number float: each is stored as the merge stores it, not refused. A file named
    on purpose is read whatever its suffix."""
    folder = tmp_path / "results"
    _result(folder, "a.json", class_acc=[float("nan")] + [0.8] * 12, params=1000.0)
    named = _result(tmp_path / "other", "run.out", seed=1, class_acc=[None] + [0.8] * 12)
    plan = _plan(tmp_path, "--kind", "train", "--seeds", "0,1", "--ingest", str(folder), named)
    stored = {u.seed: plan.wd.result(u.key)["columns"] for u in plan.units if u.arch == TRAINED and u.kind == "train"}
    assert stored[0]["cost_params"] == 1000 and math.isnan(stored[0]["metric_class_acc"][0])
    assert stored[1]["metric_class_acc"][0] is None


@pytest.mark.parametrize("field,value", [("seed", "abc"), ("seed", -1), ("seed", 1.7), ("seed", 2 ** 32),
                                         ("oa", 7.5), ("oa", "high"), ("kappa", -2), ("params", 1.7),
                                         ("class_acc", [0.8] * 3), ("train_seconds", -1), ("dataset", "bogus"),
                                         ("protocol", 5), ("synthetic", "no")])
def test_ingest_refuses_a_bad_value_before_storing_anything(tmp_path, field, value):
    """The good file sorts first: one bad file leaves the work directory unmade, not half-seeded
    with a unit that would fail every later merge."""
    folder = tmp_path / "results"
    _result(folder, "a_good.json")
    bad = _result(folder, "b_bad.json", **{field: value})
    with pytest.raises(BuildError, match=re.escape(f"{bad}: field {field!r}")):
        _plan(tmp_path, "--kind", "train", "--ingest", str(folder))
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("content", ['{"arch": "e32-h45', "", "\xff"])
def test_ingest_refuses_unparsable_json_and_missing_paths(tmp_path, content):
    folder = tmp_path / "results"
    _result(folder)
    (folder / "half.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(BuildError, match=re.escape(f"{folder / 'half.json'}: not a readable JSON file")):
        _plan(tmp_path, "--kind", "train", "--ingest", str(folder))
    with pytest.raises(BuildError, match=re.escape(f"{tmp_path / 'nope.json'}: no such file or folder")):
        _plan(tmp_path, "--kind", "train", "--ingest", str(tmp_path / "nope.json"))
    assert not (tmp_path / "w").exists()
