"""Analysis functions on small hand-made tables: every expected value is worked out by hand or by an
independent route (scipy on an explicit resample, plain Python), never by the code under test."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hytasbench.analysis import ablation, correlation, factors, layers, predictor, scales
from hytasbench.analysis.data import score_columns
from hytasbench.errors import HytasError

# x and y below, by hand: ranks y = 1, 2, 3.5, 5, 3.5; rho = 8 / sqrt(10 * 9.5);
# concordant 8, discordant 1, one tie in y: tau-b = 7 / sqrt(10 * 9).
X = [1, 2, 3, 4, 5]
Y = [5, 6, 7, 8, 7]
RHO = 8 / math.sqrt(95)
TAU_B = 7 / math.sqrt(90)


def test_spearman_and_kendall_match_hand_values():
    assert correlation.spearman(X, Y) == pytest.approx(RHO, abs=1e-12)
    assert correlation.kendall_tau_b(X, Y) == pytest.approx(TAU_B, abs=1e-12)
    assert correlation.spearman(X, [-v for v in Y]) == pytest.approx(-RHO, abs=1e-12)


def test_nan_pairs_are_dropped_not_filled():
    x = X + [np.nan, 10.0]
    y = Y + [100.0, np.nan]
    assert correlation.spearman(x, y) == pytest.approx(RHO, abs=1e-12)
    assert correlation.kendall_tau_b(x, y) == pytest.approx(TAU_B, abs=1e-12)


def test_undefined_correlations_are_nan():
    assert math.isnan(correlation.spearman([1, 2], [3, 4]))  # fewer than 3 pairs
    assert math.isnan(correlation.spearman([1, 1, 1, 1], [1, 2, 3, 4]))  # constant side
    assert math.isnan(correlation.kendall_tau_b([np.nan] * 4, [1, 2, 3, 4]))


def test_top_k_precision_counts_hits_in_the_targets_top_k():
    score = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    target = [0.9, 0.1, 0.8, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.95]
    # k = 2: the score picks rows 0 and 1; the target's top 2 are 0.95 and 0.9 -> one hit
    assert correlation.top_k_precision(score, target, 0.2) == 0.5
    # k = 5: picks rows 0-4 (0.9, 0.1, 0.8, 0.2, 0.3); top 5 are >= 0.6 -> 2 hits
    assert correlation.top_k_precision(score, target, 0.5) == 0.4
    # k never drops to 0
    assert correlation.top_k_precision(score, target, 0.001) == 0.0


def test_top_k_precision_counts_ties_at_the_cut_as_hits():
    # the target's 2nd best value 0.8 is shared by rows 1 and 2; picking either is a hit
    assert correlation.top_k_precision([3, 1, 2, 0], [0.9, 0.8, 0.8, 0.1], 0.5) == 1.0


def test_top1_is_the_target_of_the_best_score_and_averages_ties():
    assert correlation.top1([1, 5, 3], [0.2, 0.7, 0.9]) == 0.7
    assert correlation.top1([3, 3, 1], [0.5, 0.7, 0.9]) == pytest.approx(0.6)
    assert correlation.top1([np.nan, 2, 1], [0.99, 0.5, 0.4]) == 0.5


def test_bootstrap_rho_equals_scipy_on_the_explicit_resample():
    rng = np.random.default_rng(3)
    cases = [(rng.random(60), np.round(rng.random(60), 1)),  # ties in y
             (np.round(rng.random(40), 1), rng.random(40)),  # ties in x
             (rng.random(5), rng.random(5))]
    for x, y in cases:
        counts = correlation.resample_counts(len(x), 50, np.random.default_rng(0))
        assert (counts.sum(axis=1) == len(x)).all()
        got = correlation.weighted_spearman(x, y, counts)
        want = [stats.spearmanr(np.repeat(x, c), np.repeat(y, c)).statistic for c in counts]
        np.testing.assert_allclose(got, want, atol=1e-12, equal_nan=True)


def test_bootstrap_top1_equals_the_explicit_resample():
    rng = np.random.default_rng(4)
    score, target = np.round(rng.random(30), 1), rng.random(30)
    counts = correlation.resample_counts(30, 200, np.random.default_rng(1))
    got = correlation.bootstrap_top1(score, target, counts)
    want = []
    for c in counts:
        s, t = score[c > 0], target[c > 0]
        want.append(t[s == s.max()].mean())
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_percentile_interval_covers_the_middle():
    lo, hi = correlation.percentile_ci(np.arange(1001, dtype=float), level=0.9)
    assert (lo, hi) == pytest.approx((50.0, 950.0))


def _toy_frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A small table in the schema: OA rises with embed_dim and depth, proxies are noisy views of it."""
    rng = np.random.default_rng(seed)
    depth = rng.choice([4, 5, 6, 7, 8, 9, 10], n)
    embed = rng.choice([32, 48, 64, 96, 128, 192, 240], n)
    heads = [list(rng.choice([3, 4, 5, 6], d)) for d in depth]
    ratios = [list(rng.choice([1, 2, 3, 4, 5, 6], d)) for d in depth]
    quality = embed / 240 + depth / 20 + rng.normal(0, 0.05, n)
    params = embed ** 2 * depth * 10
    return pd.DataFrame({
        "arch": [f"e{e}-h{''.join(map(str, h))}-r{''.join(map(str, r))}" for e, h, r in zip(embed, heads, ratios)],
        "depth": depth, "embed_dim": embed, "num_heads": heads, "mlp_ratio": ratios,
        "metric_oa": 0.5 + 0.3 * quality / quality.max(),
        "cost_params": params, "cost_flops": params * 50,
        "proxy_snip": quality + rng.normal(0, 0.1, n), "proxy_grasp": -quality + rng.normal(0, 0.1, n),
        "proxy_synflow": quality + rng.normal(0, 0.3, n), "proxy_synflow__nosign": quality + rng.normal(0, 0.05, n),
        "proxy_dss": quality, "proxy_zico": rng.random(n), "proxy_fisher": quality ** 2,
        "proxy_grad_norm": np.full(n, np.nan),
    })


def test_score_columns_skip_variants_and_empty_columns():
    labels = score_columns(_toy_frame())
    assert "synflow" in labels and "grad_norm" not in labels  # all-NaN counts as absent
    assert all("__" not in col for col in labels.values())
    assert list(labels)[-2:] == ["params", "flops"]


def test_proxy_quality_orients_grasp_and_reports_n():
    frame = _toy_frame()
    frame.loc[:4, "proxy_snip"] = np.nan
    res = correlation.proxy_quality(frame, n_boot=100).set_index("proxy")
    oa = frame["metric_oa"].to_numpy()
    raw = stats.spearmanr(frame["proxy_grasp"], oa).statistic
    assert res.loc["grasp", "rho_raw"] == pytest.approx(raw)
    assert res.loc["grasp", "rho"] == pytest.approx(-raw)
    assert res.loc["grasp", "orientation"] == -1
    assert res.loc["snip", "n"] == len(frame) - 5
    assert res.loc["synflow", "n"] == len(frame)
    best_by_grasp = oa[np.argmin(frame["proxy_grasp"].to_numpy())]
    assert res.loc["grasp", "top1"] == pytest.approx(best_by_grasp)
    assert res.loc["dss", "rho_lo"] <= res.loc["dss", "rho"] <= res.loc["dss", "rho_hi"]
    assert res.loc["dss", "best"] == pytest.approx(oa.max())


def test_a_missing_target_column_is_a_typed_error():
    from hytasbench.errors import UnknownFieldError

    with pytest.raises(UnknownFieldError, match="metric_oa"):
        correlation.proxy_quality(_toy_frame().drop(columns="metric_oa"))


def test_quality_table_is_proxies_by_datasets():
    frames = {"a": _toy_frame(seed=1), "b": _toy_frame(seed=2)}
    results = {ds: correlation.proxy_quality(f, n_boot=0) for ds, f in frames.items()}
    table = correlation.quality_table(results, "rho")
    assert list(table.columns) == ["a", "b"]
    assert table.loc["dss", "b"] == pytest.approx(results["b"].set_index("proxy").loc["dss", "rho"])
    assert math.isnan(results["a"].set_index("proxy").loc["dss", "rho_lo"])  # n_boot=0: no interval


def test_sign_ablation_compares_both_variants():
    frame = _toy_frame()
    table = ablation.sign_ablation({"toy": frame})
    assert list(table["proxy"]) == ["synflow"]  # the only proxy with a __nosign column
    row = table.iloc[0]
    oa = frame["metric_oa"]
    assert row["rho_sign"] == pytest.approx(stats.spearmanr(frame["proxy_synflow"], oa).statistic)
    assert row["rho_nosign"] == pytest.approx(stats.spearmanr(frame["proxy_synflow__nosign"], oa).statistic)
    assert row["top1_nosign"] == pytest.approx(oa[frame["proxy_synflow__nosign"].idxmax()])
    assert ablation.sign_ablation({"toy": frame.drop(columns="proxy_synflow__nosign")}).empty


def test_scale_gap_measures_the_ratio_and_the_log_sum():
    frame = pd.DataFrame({"proxy_dss__attn": [1.0, 2.0, 3.0, 4.0], "proxy_dss__mlp": [100.0, 300.0, 200.0, 400.0],
                          "proxy_dss": [101.0, 302.0, 203.0, 404.0], "metric_oa": [0.1, 0.3, 0.2, 0.4]})
    row = scales.scale_gap({"toy": frame}, proxies=["dss"]).iloc[0]
    assert (row["median_attn"], row["median_mlp"]) == (2.5, 250.0)
    assert row["log10_ratio"] == pytest.approx(2.0)
    assert row["rho_attn"] == pytest.approx(0.8)  # ranks 1234 vs 1324: 1 - 6*2/(4*15)
    assert row["rho_mlp"] == pytest.approx(1.0)
    assert row["rho_sum"] == pytest.approx(1.0)  # the MLP part decides the sum
    log_sum = np.log(frame["proxy_dss__attn"]) + np.log(frame["proxy_dss__mlp"])
    assert row["rho_logsum"] == pytest.approx(stats.spearmanr(log_sum, frame["metric_oa"]).statistic)
    assert row["kind"] == "sign" and row["n"] == 4


def test_log_part_refuses_non_positive_values():
    out = scales.log_part(pd.Series([math.e, 0.0, -1.0]))
    assert out[0] == pytest.approx(1.0) and np.isnan(out[1:]).all()


def test_layer_decay_and_profile():
    frame = pd.DataFrame({"proxy_dss__layers": [[8.0, 4.0, 2.0, 1.0], [100.0, 10.0, 1.0, 0.1], [9.0, 3.0, 1.0], None],
                          "proxy_snip": [1.0, 2.0, 3.0, 4.0]})
    assert layers.layer_proxies(frame) == ["dss"]
    decay = layers.layer_decay({"toy": frame}).iloc[0]
    assert decay["n"] == 3 and decay["trend"] == -1.0
    # log10(last/first): log10(1/8), log10(0.1/100) = -3, log10(1/9); the median is log10(1/9)
    assert decay["log10_last_first"] == pytest.approx(math.log10(1 / 9))
    prof = layers.layer_profile(frame, "dss")
    four = prof[prof["length"] == 4].set_index("layer")
    assert four.loc[1, "median"] == 54.0 and four.loc[4, "n"] == 2
    assert four.loc[2, "median_log10"] == pytest.approx((math.log10(4) + 1) / 2)
    assert layers.layer_decay({"toy": frame.drop(columns="proxy_dss__layers")}).empty


def test_architecture_factors_and_their_correlations():
    frame = _toy_frame()
    f = factors.architecture_factors(frame)
    short = int(np.argmin(frame["depth"]))
    heads = frame.loc[short, "num_heads"]
    assert f.loc[short, "mean_heads"] == pytest.approx(np.mean(heads))
    assert f.loc[short, "heads_L1"] == heads[0]
    assert np.isnan(f.loc[short, f"heads_L{len(heads) + 1}"])  # no such layer
    corr = factors.factor_correlations(frame).set_index(["quantity", "factor"])
    want = stats.spearmanr(frame["metric_oa"], frame["embed_dim"]).statistic
    assert corr.loc[("OA", "embed_dim"), "rho"] == pytest.approx(want)
    assert corr.loc[("grasp", "params"), "rho"] == pytest.approx(
        stats.spearmanr(-frame["proxy_grasp"], frame["cost_params"]).statistic)
    layer9 = f["heads_L9"].notna()
    assert corr.loc[("OA", "heads_L9"), "n"] == layer9.sum()
    assert corr.loc[("OA", "heads_L9"), "rho"] == pytest.approx(
        stats.spearmanr(frame.loc[layer9, "metric_oa"], f.loc[layer9, "heads_L9"]).statistic)


def test_size_bins_and_preference_on_a_model_where_mid_sizes_win():
    n = 100
    params = np.arange(1, n + 1) * 1000.0
    oa = 1 - ((np.arange(n) - 50) / 50) ** 2  # best in the middle, as if large models overfit
    frame = pd.DataFrame({"cost_params": params, "metric_oa": oa, "proxy_snip": params})
    bins = factors.size_bins(frame, bins=5).set_index("bin")
    assert list(bins["n"]) == [20] * 5
    assert bins["oa_median"].idxmax() == 3
    assert bins.loc[3, "share_of_top"] == 1.0  # OA's top 10 (ids 45..55) are all in the middle fifth
    pref = factors.size_preference(frame).set_index("quantity")
    assert pref.loc["snip", "median_size_pct"] == pytest.approx(np.median(np.arange(91, 101)) / 100)
    assert pref.loc["oracle (OA)", "median_size_pct"] < pref.loc["snip", "median_size_pct"]


def test_transfer_joins_on_the_architecture_not_on_row_order():
    a = pd.DataFrame({"arch": ["x", "y", "z", "w"], "metric_oa": [0.1, 0.2, 0.3, 0.4]})
    b = pd.DataFrame({"arch": ["w", "z", "y", "x", "v"], "metric_oa": [0.4, 0.3, 0.2, 0.1, 0.9]})
    c = pd.DataFrame({"arch": ["x", "y", "z", "w"], "metric_oa": [0.4, 0.3, np.nan, 0.1]})
    pairs = factors.transfer({"a": a, "b": b, "c": c}, columns=["metric_oa"]).set_index(["dataset_a", "dataset_b"])
    assert pairs.loc[("a", "b"), "rho"] == pytest.approx(1.0) and pairs.loc[("a", "b"), "n"] == 4
    assert pairs.loc[("a", "c"), "rho"] == pytest.approx(-1.0) and pairs.loc[("a", "c"), "n"] == 3
    matrix = factors.transfer_matrix(pairs.reset_index())
    assert matrix.loc["c", "a"] == pytest.approx(-1.0) and matrix.loc["b", "b"] == 1.0


def test_numeric_and_onehot_encodings():
    frame = pd.DataFrame({"depth": [4, 5, 4], "embed_dim": [32, 32, 48],
                          "num_heads": [[3, 4, 5, 6], [3, 3, 3, 3, 3], [3, 4, 5, 6]],
                          "mlp_ratio": [[1, 2, 3, 4], [1, 1, 1, 1, 1], [6, 6, 6, 6]]})
    num, names = predictor.numeric_features(frame)
    assert names[:3] == ["depth", "embed_dim", "heads_1"] and num.shape == (3, 22)
    assert list(num[0, :6]) == [4, 32, 3, 4, 5, 6] and num[0, 6] == 0  # padded past the last layer
    assert num[1, 12 + 4] == 1 and num[1, 12 + 5] == 0  # ratio_5 of the 5-layer arch, ratio_6 padded
    onehot, cols = predictor.onehot_features(frame, predictor.ONEHOT_FIELDS["onehot-separate"])
    # depth {4,5} + embed {32,48} + heads lists {3456, 33333} + ratio lists {1234, 11111, 6666}
    assert onehot.shape == (3, 9) and (onehot.sum(axis=1) == 4).all()
    assert "num_heads=[3, 4, 5, 6]" in cols
    # on rows 0 and 1 the patterns are {0} (depth 4, heads 3456, ratios 1234), {1} (depth 5, ...) and {0, 1}
    # (embed 32): one column each, the first of its kind
    assert list(predictor.distinct_columns(onehot[[0, 1]])) == [0, 1, 2]


def test_paper_encoding_couples_depth_and_width_like_the_csv_embed_dim_list():
    frame = pd.DataFrame({"depth": [4, 5, 4], "embed_dim": [32, 32, 48],
                          "num_heads": [[3] * 4, [3] * 5, [4] * 4], "mlp_ratio": [[1] * 4, [1] * 5, [2] * 4]})
    onehot, cols = predictor.onehot_features(frame)  # the paper's fields by default
    # the upstream CSV writes embed_dim as the per-layer list: three distinct cells here, not two widths
    assert {c for c in cols if c.startswith("depth_width=")} == {
        "depth_width=[32, 32, 32, 32]", "depth_width=[32, 32, 32, 32, 32]", "depth_width=[48, 48, 48, 48]"}
    # trained on (depth, width) = (4, 32), (5, 32), (4, 48), asked about (5, 48) with lists never seen:
    # an unseen category is all zeros (OneHotEncoder(handle_unknown='ignore'))
    four = pd.DataFrame({"depth": [4, 5, 4, 5], "embed_dim": [32, 32, 48, 48],
                         "num_heads": [[3] * 4, [3] * 5, [4] * 4, [4] * 5],
                         "mlp_ratio": [[1] * 4, [1] * 5, [2] * 4, [2] * 5], "metric_oa": [0.5, 0.6, 0.7, 0.8]})
    data = predictor.study_data(four)
    train, test = np.array([0, 1, 2]), np.array([3])
    assert data.features("onehot-separate", "arch", test, train).toarray().sum() == 2  # depth 5 and width 48
    assert data.features("paper", "arch", test, train).toarray().sum() == 1  # depth 5 only: [48] * 5 is unseen
    with pytest.raises(HytasError, match="allowed"):
        data.features("onehot", "arch", np.array([0]), np.array([1]))


def test_split_draws_the_notebooks_train_test_split():
    train, test = predictor.split(2000, 0.01, seed=42)
    assert len(train) == 20 and len(test) == 1980 and not set(train) & set(test)
    assert sorted(np.concatenate([train, test])) == list(range(2000))
    # scikit-learn's ShuffleSplit: a RandomState(seed) permutation, test rows first, then the training rows
    perm = np.random.RandomState(42).permutation(2000)
    assert list(test) == list(perm[:1980]) and list(train) == list(perm[1980:])
    assert list(predictor.split(2000, 0.01, seed=42)[0]) == list(train)


def test_study_drops_rows_without_oa_or_features_and_learns_depth():
    frame = _toy_frame(n=80, seed=5)
    frame.loc[0, "metric_oa"] = np.nan
    frame.loc[1, "proxy_zico"] = np.nan
    frame.loc[2, "cost_params"] = np.nan
    data = predictor.study_data(frame)
    # the notebook's proxies that the frame holds, in its order (grad_norm is all NaN: not a feature); no size
    assert data.n == 77 and data.proxy_names == ["proxy_dss", "proxy_snip", "proxy_zico", "proxy_fisher",
                                                 "proxy_synflow"]
    assert data.extras["arch+params"].shape == (77, 1)
    results = predictor.rf_study({"toy": frame}, fractions=(0.5,), seeds=(0,), n_trees=10, n_jobs=1)
    assert len(results) == 3 * 3 and set(results["n_train"]) == {38}
    summary = predictor.summarize(results)
    assert (summary["seeds"] == 1).all()
    numeric = summary[(summary["encoding"] == "numeric") & (summary["features"] == "arch")]["rho_mean"].iloc[0]
    assert numeric > 0.5  # OA is a smooth function of depth and width here
    gain = predictor.proxy_gain(summary)
    assert set(gain["encoding"]) == set(predictor.ENCODINGS) and gain[["gain", "gain_params"]].notna().all().all()
    with pytest.raises(HytasError, match="positive"):
        predictor.rf_study({"toy": frame}, n_trees=0)


def test_study_runs_in_worker_processes_with_progress():
    frame = _toy_frame(n=60, seed=7)
    seen = []
    settings = dict(fractions=(0.2, 0.5), seeds=(0, 1), encodings=("paper", "numeric"), feature_sets=("arch",),
                    n_trees=5)
    here = predictor.rf_study({"toy": frame}, n_jobs=1, **settings)
    pooled = predictor.rf_study({"toy": frame}, n_jobs=2, progress=lambda d, t: seen.append((d, t)), **settings)
    pd.testing.assert_frame_equal(here, pooled)  # seeded forests: the same rows either way
    assert seen == [(i, 8) for i in range(1, 9)]


def test_rf_study_cache_returns_the_same_rows(tmp_path):
    frame = _toy_frame(n=40, seed=6)
    settings = dict(fractions=(0.5,), seeds=(0,), encodings=("numeric",), feature_sets=("arch",), n_jobs=1,
                    n_trees=10, cache=tmp_path)
    first = predictor.rf_study({"toy": frame}, **settings)
    assert len(list(tmp_path.glob("rf-toy-*.csv"))) == 1
    again = predictor.rf_study({"toy": frame}, **settings)
    pd.testing.assert_frame_equal(first.reset_index(drop=True), again, check_dtype=False)
    frame.loc[3, "metric_oa"] += 0.01  # other data: another key, a fresh fit
    predictor.rf_study({"toy": frame}, **settings)
    assert len(list(tmp_path.glob("rf-toy-*.csv"))) == 2
