"""The report end to end: files, valid non-blank PNGs, every dataset named, absent inputs said plainly."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hytasbench.analysis import figures, report
from hytasbench.analysis.data import SourceData, dataset_title
from hytasbench.tables import write_table_set

import smallset

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def _check_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG, f"{path.name} is not a PNG"
    pixels = imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert float(np.std(pixels[..., :3])) > 0.02, f"{path.name} is blank"


def _linked(markdown: str, kind: str) -> set:
    return set(re.findall(rf"\(({kind}/[^)]+)\)", markdown))


@pytest.fixture(scope="module")
def small_report(small_tables, tmp_path_factory):
    """The whole report (every section, the forests, the figures) of the tests' small table set."""
    path = report.build_report(str(small_tables), tmp_path_factory.mktemp("report"), n_boot=50, rf_fractions=(0.25,),
                               rf_seeds=(0,), cache=False)
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference_report(reference_tables, tmp_path_factory):
    path = report.build_report(str(reference_tables), tmp_path_factory.mktemp("reference_report"), n_boot=50,
                               rf_fractions=(0.01,), rf_seeds=(0,), cache=False)
    return path, path.read_text(encoding="utf-8")


def test_report_writes_markdown_tables_and_figures(small_report):
    path, text = small_report
    out = path.parent
    figs, tables = _linked(text, "figures"), _linked(text, "tables")
    assert {"figures/proxy_rho_heatmap.png", "figures/proxy_top1.png", "figures/rf_study.png",
            "figures/sign_ablation.png", "figures/scale_gap_indian_pines.png", "figures/transfer_oa.png"} <= figs
    assert {"tables/proxy_quality.csv", "tables/rf_summary.csv", "tables/factor_correlations.csv"} <= tables
    for rel in figs:
        _check_png(out / rel)
    for rel in tables:
        assert len(pd.read_csv(out / rel)) > 0
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(Path(f).name for f in figs)


def test_report_names_every_dataset_and_section(small_report):
    _, text = small_report
    for ds in smallset.DATASETS:
        assert dataset_title(ds) in text
    for n, title in enumerate(["Proxy quality", "Sign ablation", "Attention vs MLP", "Per-layer", "Factor analysis",
                               "Random-forest"], start=1):
        assert re.search(rf"^## {n}\. {title}", text, re.M)
    layers = text.split("## 4.")[1].split("## 5.")[0]
    assert "Not available for this source" in layers  # the small set has no per-layer scores
    quality = pd.read_csv(small_report[0].parent / "tables" / "proxy_quality.csv")
    snip = quality[(quality["proxy"] == "snip") & (quality["dataset"] == "ksc")].iloc[0]
    assert snip["n"] == smallset.N_ARCHS - 1  # run 0 of the architectures with an OA
    assert f"{snip['rho']:.2f} [" in text


@pytest.mark.slow
def test_report_of_the_reference(reference_report):
    """The report of the authors' results: all five datasets, their figures and the sign ablation."""
    path, text = reference_report
    figs = _linked(text, "figures")
    assert {"figures/proxy_rho_heatmap.png", "figures/sign_ablation.png", "figures/transfer_oa.png"} <= figs
    for rel in figs:
        _check_png(path.parent / rel)
    for ds in ("indian_pines", "salinas", "houston2013", "paviau", "ksc"):
        assert dataset_title(ds) in text
    assert "Not available for this source" in text.split("## 4.")[1].split("## 5.")[0]  # no per-layer scores
    quality = pd.read_csv(path.parent / "tables" / "proxy_quality.csv")
    synflow = quality[(quality["proxy"] == "synflow") & (quality["dataset"] == "ksc")].iloc[0]
    assert synflow["n"] == 2000 and f"{synflow['rho']:.2f} [" in text


def test_report_of_a_users_own_tables_with_per_layer_scores(tmp_path):
    rng = np.random.default_rng(0)
    n = 30
    depth = rng.choice([4, 6, 8], n)
    heads = [list(rng.choice([3, 4, 5, 6], d)) for d in depth]
    ratios = [list(rng.choice([1, 2, 3, 4], d)) for d in depth]
    frame = pd.DataFrame({
        "arch": [f"e64-h{''.join(map(str, h))}-r{''.join(map(str, r))}" for h, r in zip(heads, ratios)],
        "dataset": "indian_pines", "source": "mine", "run": 0, "depth": depth, "embed_dim": 64,
        "num_heads": heads, "mlp_ratio": ratios, "metric_oa": rng.random(n), "cost_params": depth * 1000,
        "proxy_snip": rng.random(n),
        "proxy_snip__layers": [list(np.sort(rng.random(d * 4 + 2))[::-1]) for d in depth],
    })
    out = report.build_report(data=SourceData("mine", {"indian_pines": frame}), out=tmp_path / "r", rf=False,
                              n_boot=20)
    text = out.read_text(encoding="utf-8")
    assert "figures/layer_decay_indian_pines.png" in text
    _check_png(tmp_path / "r" / "figures" / "layer_decay_indian_pines.png")
    decay = pd.read_csv(tmp_path / "r" / "tables" / "layer_decay.csv")
    assert decay.loc[0, "trend"] == -1.0  # every list was sorted to decay
    assert "Not available for this source: no dataset holds both OA and a `__nosign`" in text
    assert "## 6." not in text


def test_report_command_reads_a_table_set_folder(tmp_path, capsys):
    frame = pd.DataFrame({"arch": ["e32-h3333-r1111", "e48-h4444-r2222", "e64-h5555-r3333", "e96-h6666-r4444"],
                          "dataset": "ksc", "source": "tiny", "run": 0, "depth": 4, "embed_dim": [32, 48, 64, 96],
                          "num_heads": [[3] * 4, [4] * 4, [5] * 4, [6] * 4],
                          "mlp_ratio": [[1] * 4, [2] * 4, [3] * 4, [4] * 4],
                          "metric_oa": [0.5, 0.6, np.nan, 0.8], "cost_params": [1, 2, 3, 4],
                          "proxy_synflow": [1.0, 3.0, 2.0, 4.0]})
    write_table_set(tmp_path / "tiny", {"ksc": frame}, source="tiny", protocol="test", description="four rows")
    code = report.main(["--source", str(tmp_path / "tiny"), "--out", str(tmp_path / "out"), "--no-rf",
                        "--no-figures", "--n-boot", "10"])
    assert code == 0 and "report written" in capsys.readouterr().out
    text = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Kennedy Space Center" in text and "source `tiny`" in text
    quality = pd.read_csv(tmp_path / "out" / "tables" / "proxy_quality.csv").set_index("proxy")
    assert quality.loc["synflow", "n"] == 3 and quality.loc["synflow", "rho"] == pytest.approx(1.0)


def test_report_command_says_what_is_wrong(tmp_path, capsys):
    assert report.main(["--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--no-rf"]) == 2
    assert "error:" in capsys.readouterr().err


def test_figures_have_labelled_axes(small_report):
    tables = small_report[0].parent / "tables"
    quality = pd.read_csv(tables / "proxy_quality.csv")
    results = {ds: part.reset_index(drop=True) for ds, part in quality.groupby("dataset", sort=False)}
    best = {ds: float(part["best"].max()) for ds, part in results.items()}
    made = [figures.rf_curves(pd.read_csv(tables / "rf_summary.csv")), figures.rho_intervals(results),
            figures.top1_accuracy(results, best), figures.sign_ablation_bars(pd.read_csv(tables / "sign_ablation.csv"))]
    for fig in made:
        shown = [ax for ax in fig.axes if ax.get_visible()]
        for ax in shown:
            assert ax.get_xlabel() and ax.get_title(), fig
        first = shown[0]
        assert first.get_ylabel() or any(t.get_text() for t in first.get_yticklabels()), fig


def test_report_of_a_source_without_accuracies(tmp_path):
    # like our shipped tables before training: costs, proxies, their parts and per-layer lists, no OA at all
    rng = np.random.default_rng(1)
    n = 12
    frame = pd.DataFrame({"arch": [f"e32-h{'3' * 4}-r{i % 6 + 1}{'1' * 3}" for i in range(n)], "depth": 4,
                          "embed_dim": 32, "num_heads": [[3] * 4] * n,
                          "mlp_ratio": [[i % 6 + 1, 1, 1, 1] for i in range(n)], "cost_params": np.arange(n) + 1.0,
                          "proxy_snip": rng.random(n), "proxy_snip__attn": rng.random(n) + 1,
                          "proxy_snip__mlp": rng.random(n) * 100 + 1,
                          "proxy_snip__layers": [list(rng.random(18)) for _ in range(n)]})
    out = report.build_report(data=SourceData("untrained", {"indian_pines": frame}), out=tmp_path, n_boot=10,
                              figures=False)
    text = out.read_text(encoding="utf-8")
    sections = {m.group(1): m.group(2) for m in re.finditer(r"^## (\d)\. .*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)}
    for number in ("1", "2", "6"):
        assert "Not available for this source" in sections[number]
    assert "| Indian Pines | snip | sign | 12 | 0 |" in sections["3"]  # medians without OA; n_oa = 0
    assert "tables/layer_decay.csv" in sections["4"]
    assert "only the proxies' relation" in sections["5"]


def test_analysis_imports_neither_torch_nor_matplotlib():
    import subprocess
    import sys

    code = ("import sys, hytasbench.analysis.report, hytasbench.analysis.predictor; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


def test_noise_section_shows_training_repeats_and_proxy_seed_noise(tmp_path):
    # a table set as a multi-seed build writes it: every architecture scored with seeds 0, 1 and 2 (runs 0-2),
    # OA in run 0, and two architectures trained a second time with another seed
    from scipy import stats

    rng = np.random.default_rng(3)
    n = 40
    from hytasbench import space

    archs = space.hytas2000()[:n]  # real architectures: a table's architecture columns are validated
    oa = np.linspace(0.5, 0.9, n)
    scores = {s: oa + rng.normal(0, 0.05 * (s + 1), n) for s in (0, 1, 2)}
    rows = []
    for s in (0, 1, 2):
        for i in range(n):
            a = archs[i]
            rows.append({"arch": str(a), "dataset": "ksc", "source": "seeds", "run": s, "seed": s,
                         "depth": a.depth, "embed_dim": a.embed_dim, "num_heads": list(a.num_heads),
                         "mlp_ratio": list(a.mlp_ratio),
                         "metric_oa": oa[i] if s == 0 else (oa[i] + 0.01 if s == 1 and i < 2 else np.nan),
                         "proxy_snip": scores[s][i]})
    write_table_set(tmp_path / "seeds", {"ksc": pd.DataFrame(rows)}, source="seeds", protocol="test",
                    description="three proxy seeds")
    out = report.build_report(str(tmp_path / "seeds"), tmp_path / "out", rf=False, n_boot=10, figures=False)
    text = out.read_text(encoding="utf-8")
    section = text.split("## 7. Noise")[1]
    seed_noise = pd.read_csv(tmp_path / "out" / "tables" / "proxy_seed_noise.csv").set_index("proxy")
    snip = seed_noise.loc["snip"]
    per_seed = [stats.spearmanr(scores[s], oa).statistic for s in (0, 1, 2)]
    assert snip["seeds"] == 3 and snip["n"] == n
    assert snip["rho_mean"] == pytest.approx(np.mean(per_seed)) and snip["rho_min"] == pytest.approx(min(per_seed))
    assert snip["rho_lo"] < snip["rho_mean"] < snip["rho_hi"]
    z = np.arctanh(per_seed)  # the interval is a t interval on Fisher's z, mapped back
    half = stats.t.ppf(0.975, 2) * np.std(z, ddof=1) / np.sqrt(3)
    assert (snip["rho_lo"], snip["rho_hi"]) == pytest.approx((np.tanh(z.mean() - half), np.tanh(z.mean() + half)))
    between = [stats.spearmanr(scores[a], scores[b]).statistic for a, b in ((0, 1), (0, 2), (1, 2))]
    assert snip["rho_between_seeds_min"] == pytest.approx(min(between))
    mean_rank = np.mean([stats.rankdata(scores[s]) for s in (0, 1, 2)], axis=0)
    assert snip["rho_of_mean_rank"] == pytest.approx(stats.spearmanr(mean_rank, oa).statistic)
    training = pd.read_csv(tmp_path / "out" / "tables" / "training_noise.csv").set_index("dataset").loc["ksc"]
    assert training["pairs"] == 2 and training["same_seed_pairs"] == 0 and training["identical"] == 0
    assert training["max_abs_diff"] == pytest.approx(0.01)
    assert "Kennedy Space Center: 2 repeat pair(s) (0 with the same seed)" in section
    assert "tables/proxy_seed_noise.csv" in section


def test_seed_interval_of_a_noisy_proxy_stays_a_correlation():
    # three seeds whose rho with OA differ widely (about 0.95, 0.6, 0.2): a t interval on rho itself would
    # reach past 1; on Fisher's z it stays inside (-1, 1) and still covers every seed's rho
    from hytasbench import space
    from hytasbench.analysis import noise

    rng = np.random.default_rng(0)
    n = 60
    archs = [str(a) for a in space.hytas2000()[:n]]
    oa = rng.normal(size=n)
    runs = pd.DataFrame([{"arch": a, "seed": s, "proxy_snip": oa[i] * w + rng.normal()}
                         for s, w in enumerate((5.0, 0.8, 0.2)) for i, a in enumerate(archs)])
    headline = pd.DataFrame({"arch": archs, "metric_oa": oa})
    row = noise.proxy_seed_noise(runs, headline).set_index("proxy").loc["snip"]
    assert row["rho_max"] - row["rho_min"] > 0.5
    assert -1 < row["rho_lo"] <= row["rho_min"] and row["rho_max"] <= row["rho_hi"] < 1


def test_seed_noise_compares_seeds_on_the_architectures_every_seed_has():
    # seed 0 for 80 architectures, seeds 1 and 2 for a sample of 30 (as our table has them): every number
    # is on the 30, never seed 0's full set against the sample
    from scipy import stats

    from hytasbench import space
    from hytasbench.analysis import noise

    rng = np.random.default_rng(1)
    archs = [str(a) for a in space.hytas2000()[:80]]
    oa = rng.normal(size=80)
    scores = {s: oa + rng.normal(0, 0.5 + s, 80) for s in (0, 1, 2)}
    sample = range(0, 80, 80 // 30)[:30]
    runs = pd.DataFrame([{"arch": archs[i], "seed": s, "proxy_snip": scores[s][i]}
                         for s in (0, 1, 2) for i in (range(80) if s == 0 else sample)])
    row = noise.proxy_seed_noise(runs, pd.DataFrame({"arch": archs, "metric_oa": oa})).set_index("proxy").loc["snip"]
    idx = list(sample)
    per_seed = [stats.spearmanr(scores[s][idx], oa[idx]).statistic for s in (0, 1, 2)]
    assert row["n"] == 30
    assert (row["rho_min"], row["rho_max"]) == pytest.approx((min(per_seed), max(per_seed)))
    between = stats.spearmanr(scores[0][idx], scores[1][idx]).statistic
    assert row["rho_between_seeds_min"] <= between + 1e-12


def test_seed_noise_of_a_scores_only_table_takes_oa_from_another_source(tmp_path):
    # our own tables have seeds but (almost) no OA: with --oa-source the noise section correlates each
    # seed's scores with that source's OA, matched by architecture
    from scipy import stats

    from hytasbench import space

    rng = np.random.default_rng(5)
    n = 30
    archs = space.hytas2000()[:n]
    oa = rng.uniform(0.5, 0.9, n)
    scores = {s: oa + rng.normal(0, 0.1, n) for s in (0, 1)}

    def rows(seeds, with_oa):
        return pd.DataFrame([{"arch": str(a), "dataset": "ksc", "source": "oa" if with_oa else "scores",
                              "run": s, "seed": s,
                              "depth": a.depth, "embed_dim": a.embed_dim, "num_heads": list(a.num_heads),
                              "mlp_ratio": list(a.mlp_ratio), **({"metric_oa": oa[i]} if with_oa else
                                                                 {"proxy_snip": scores[s][i]})}
                             for s in seeds for i, a in enumerate(archs)])

    write_table_set(tmp_path / "oa", {"ksc": rows((0,), True)}, source="oa", protocol="test", description="OA")
    write_table_set(tmp_path / "scores", {"ksc": rows((0, 1), False)}, source="scores", protocol="test",
                    description="two proxy seeds, no OA")
    report.build_report(str(tmp_path / "scores"), tmp_path / "out", rf=False, n_boot=10, figures=False,
                        oa_source=str(tmp_path / "oa"))
    snip = pd.read_csv(tmp_path / "out" / "tables" / "proxy_seed_noise.csv").set_index("proxy").loc["snip"]
    per_seed = [stats.spearmanr(scores[s], oa).statistic for s in (0, 1)]
    assert snip["seeds"] == 2 and snip["n"] == n
    assert (snip["rho_min"], snip["rho_max"]) == pytest.approx((min(per_seed), max(per_seed)))


def test_noise_section_says_when_nothing_was_repeated(tmp_path):
    frame = _toy_source_frame()
    out = report.build_report(data=SourceData("once", {"ksc": frame}), out=tmp_path, rf=False, n_boot=10,
                              figures=False)
    assert "## 7. Noise\n\nNot available for this source: no architecture was trained twice" in \
        out.read_text(encoding="utf-8")


def _toy_source_frame() -> pd.DataFrame:
    return pd.DataFrame({"arch": ["e32-h3333-r1111", "e48-h4444-r2222", "e64-h5555-r3333"], "run": 0, "depth": 4,
                         "embed_dim": [32, 48, 64], "num_heads": [[3] * 4, [4] * 4, [5] * 4],
                         "mlp_ratio": [[1] * 4, [2] * 4, [3] * 4], "metric_oa": [0.5, 0.6, 0.7],
                         "proxy_synflow": [1.0, 3.0, 2.0]})
