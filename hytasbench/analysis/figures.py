"""Every figure of the report, one function each, callable from a notebook.

Each function takes the tables the analysis functions return and gives back a
``matplotlib.figure.Figure``: built without pyplot, so nothing global changes, no GUI backend is
needed, and a notebook shows the returned figure as it is. matplotlib is the optional extra
``plot`` and is imported only when a figure is made. One style for all: :data:`STYLE`, the same
colour per dataset and per series everywhere.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Tuple

import numpy as np
import pandas as pd

from ..errors import require
from .data import TARGET, dataset_title

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.frameon": False, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
    "axes.spines.top": False, "axes.spines.right": False, "axes.axisbelow": True, "figure.dpi": 100,
}
DPI = 150
PANEL = (3.2, 3.0)  # inches per dataset panel
SERIES = {  # RF study: colour by encoding, line style by feature set
    (enc, feats): (color, style)
    for enc, color in (("paper", "#1f77b4"), ("onehot-separate", "#2ca02c"), ("numeric", "#d62728"))
    for feats, style in (("arch", "--"), ("arch+proxies", "-"), ("arch+params", ":"))
}
PAIR = ("#1f77b4", "#ff7f0e")  # two-way comparisons: with/without sign, attention/MLP, median/max


def _mpl():
    matplotlib = require("matplotlib", "plot", "drawing figures")
    return matplotlib, require("matplotlib.figure", "plot", "drawing figures").Figure


def new_figure(n_panels: int = 1, panel: Tuple[float, float] = PANEL, rows: int = 1,
               sharey: bool = False) -> Tuple["Figure", List["Axes"]]:
    """A figure in the report style with ``n_panels`` axes laid out in ``rows`` rows."""
    matplotlib, Figure = _mpl()
    cols = int(np.ceil(n_panels / rows))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")
        axes = fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _styled():
    matplotlib, _ = _mpl()
    return matplotlib.rc_context(STYLE)


def save(fig: "Figure", path: Path) -> Path:
    """Write a figure as PNG at the report's resolution."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _styled():
        fig.savefig(path, dpi=DPI, format="png")
    return path


def heatmap(table: pd.DataFrame, title: str, colorbar: str, vmin: float = -1.0, vmax: float = 1.0,
            fmt: str = "{:.2f}", xlabel: str = "", ylabel: str = "", cmap: str = "RdBu_r") -> "Figure":
    """A labelled heatmap of a table with every cell's value written in it (NaN cells left blank)."""
    rows, cols = table.shape
    fig, (ax,) = new_figure(1, panel=(max(4.0, 0.75 * cols + 2.2), max(2.5, 0.3 * rows + 1.4)))
    with _styled():
        values = table.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(cols), [dataset_title(str(c)) for c in table.columns], rotation=30, ha="right")
        ax.set_yticks(range(rows), [dataset_title(str(r)) for r in table.index])
        for i in range(rows):
            for j in range(cols):
                if np.isfinite(values[i, j]):
                    r, g, b, _ = image.cmap(image.norm(values[i, j]))
                    dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                    ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if dark else "black")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.colorbar(image, ax=ax, label=colorbar, shrink=0.9)
    return fig


def rho_intervals(results: Dict[str, pd.DataFrame]) -> "Figure":
    """Per dataset: every score's oriented Spearman rho with OA and its bootstrap interval."""
    fig, axes = new_figure(len(results), panel=(3.0, 4.2), sharey=True)
    with _styled():
        for ax, (ds, res) in zip(axes, results.items()):
            y = np.arange(len(res))[::-1]
            err = np.vstack([res["rho"] - res["rho_lo"], res["rho_hi"] - res["rho"]])
            ax.errorbar(res["rho"], y, xerr=np.nan_to_num(err), fmt="o", ms=3.5, color=PAIR[0], ecolor="0.4",
                        capsize=2, lw=1)
            ax.axvline(0, color="0.5", lw=0.8)
            ax.set_yticks(y, res["proxy"])
            ax.set_xlim(min(-0.1, np.nanmin(res["rho_lo"]) - 0.05), 1.0)
            ax.set_title(dataset_title(ds))
            ax.set_xlabel("Spearman ρ with OA (95% CI)")
    return fig


def top1_accuracy(results: Dict[str, pd.DataFrame], best: Dict[str, float]) -> "Figure":
    """Per dataset: OA of the architecture each score ranks first (bootstrap interval), against the best OA."""
    fig, axes = new_figure(len(results), panel=(3.0, 4.2), sharey=True)
    with _styled():
        for ax, (ds, res) in zip(axes, results.items()):
            y = np.arange(len(res))[::-1]
            err = np.vstack([res["top1"] - res["top1_lo"], res["top1_hi"] - res["top1"]]) * 100
            ax.errorbar(res["top1"] * 100, y, xerr=np.nan_to_num(err), fmt="o", ms=3.5, color=PAIR[0],
                        ecolor="0.4", capsize=2, lw=1, label="top-ranked architecture (95% CI)")
            ax.axvline(best[ds] * 100, color=PAIR[1], lw=1.5, label="best OA in the table")
            ax.set_yticks(y, res["proxy"])
            ax.set_title(f"{dataset_title(ds)} (best {best[ds] * 100:.1f}%)")
            ax.set_xlabel("OA (%)")
        _figure_legend(fig, axes[0])
    return fig


def _figure_legend(fig: "Figure", ax: "Axes") -> None:
    """One legend for the whole figure, above the panels, so it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=min(len(labels), 7))


def proxy_scatter(frames: Dict[str, pd.DataFrame], columns: Dict[str, str], target: str = TARGET) -> "Figure":
    """Grid of score-vs-OA scatter plots: one row per dataset, one column per score (log x where positive)."""
    rows, cols = len(frames), len(columns)
    fig, axes = new_figure(rows * cols, panel=(2.6, 2.2), rows=rows)
    with _styled():
        for r, (ds, frame) in enumerate(frames.items()):
            for c, (label, col) in enumerate(columns.items()):
                ax = axes[r * cols + c]
                if col not in frame.columns:
                    ax.set_visible(False)
                    continue
                x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
                y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float) * 100
                ok = np.isfinite(x) & np.isfinite(y)
                ax.scatter(x[ok], y[ok], s=3, alpha=0.35, color=PAIR[0], linewidths=0)
                if ok.any() and (x[ok] > 0).all() and x[ok].max() > 30 * x[ok].min():
                    ax.set_xscale("log")
                ax.set_title(f"{dataset_title(ds)}: {label}", fontsize=9)
                ax.set_xlabel(label)
                ax.set_ylabel("OA (%)")
    return fig


def sign_ablation_bars(ablation: pd.DataFrame) -> "Figure":
    """Grouped bars: rho and top-1 OA of each proxy with and without the sign operation."""
    fig, axes = new_figure(2, panel=(4.0, 3.0))
    labels = [f"{dataset_title(d)}\n{p}" for d, p in zip(ablation["dataset"], ablation["proxy"])]
    x = np.arange(len(ablation))
    with _styled():
        for ax, (key, ylabel) in zip(axes, (("rho", "Spearman ρ with OA"), ("top1", "OA of top-ranked arch (%)"))):
            scale = 100 if key == "top1" else 1
            ax.bar(x - 0.2, ablation[f"{key}_sign"] * scale, 0.4, color=PAIR[0], label="with sign")
            ax.bar(x + 0.2, ablation[f"{key}_nosign"] * scale, 0.4, color=PAIR[1], label="without sign")
            ax.set_xticks(x, labels)
            ax.set_xlabel("dataset and proxy")
            ax.set_ylabel(ylabel)
            if key == "top1":
                lo = np.nanmin(ablation[["top1_sign", "top1_nosign"]].to_numpy()) * 100
                ax.set_ylim(max(0.0, lo - 5), np.nanmax(ablation["best"]) * 100 + 1)
        axes[0].set_title("Rank correlation")
        axes[1].set_title("Top-1 accuracy (axis cut)")
        _figure_legend(fig, axes[0])
    return fig


def scale_histograms(frame: pd.DataFrame, dataset: str, parts: Dict[str, Tuple[str, str]]) -> "Figure":
    """Per proxy: histograms of its attention and MLP parts, raw (left) and log-transformed (right)."""
    fig, axes = new_figure(2 * len(parts), panel=(3.2, 2.4), rows=len(parts))
    with _styled():
        for i, (name, (a_col, m_col)) in enumerate(parts.items()):
            attn = pd.to_numeric(frame[a_col], errors="coerce").dropna().to_numpy(dtype=float)
            mlp = pd.to_numeric(frame[m_col], errors="coerce").dropna().to_numpy(dtype=float)
            raw_ax, log_ax = axes[2 * i], axes[2 * i + 1]
            bins = np.linspace(min(attn.min(), mlp.min()), max(attn.max(), mlp.max()), 50)
            raw_ax.hist(attn, bins=bins, alpha=0.6, color=PAIR[0], label="attention")
            raw_ax.hist(mlp, bins=bins, alpha=0.6, color=PAIR[1], label="MLP")
            raw_ax.set_xlabel(f"{name} part score")
            raw_ax.set_title(f"{dataset_title(dataset)}: {name}, raw")
            la, lm = np.log(attn[attn > 0]), np.log(mlp[mlp > 0])
            lbins = np.linspace(min(la.min(), lm.min()), max(la.max(), lm.max()), 50)
            log_ax.hist(la, bins=lbins, alpha=0.6, color=PAIR[0], label="attention")
            log_ax.hist(lm, bins=lbins, alpha=0.6, color=PAIR[1], label="MLP")
            log_ax.set_xlabel(f"ln({name} part score)")
            log_ax.set_title(f"{dataset_title(dataset)}: {name}, log")
            for ax in (raw_ax, log_ax):
                ax.set_ylabel("architectures")
                ax.legend()
    return fig


def layer_profiles(profiles: Dict[str, pd.DataFrame], dataset: str) -> "Figure":
    """Per proxy: median log10 per-layer score against layer position, one line per number of layers."""
    fig, axes = new_figure(len(profiles), panel=(3.4, 2.6), rows=int(np.ceil(len(profiles) / 4)))
    with _styled():
        lengths = sorted({int(v) for prof in profiles.values() for v in prof["length"].unique()})
        colors = dict(zip(lengths, _ramp(len(lengths))))
        for ax, (name, prof) in zip(axes, profiles.items()):
            for length in lengths:
                part = prof[prof["length"] == length]
                if len(part):
                    ax.plot(part["layer"], part["median_log10"], marker="o", ms=2, lw=1, color=colors[length],
                            label=f"{length} scored layers")
            ax.set_xlabel("scored layer (input → output)")
            ax.set_ylabel("median log10 score")
            ax.set_title(f"{dataset_title(dataset)}: {name}")
        _figure_legend(fig, axes[0])
    return fig


def _ramp(n: int) -> List[Tuple[float, float, float, float]]:
    matplotlib, _ = _mpl()
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.05, 0.9, max(n, 1))]


def heads_by_layer(correlations: Dict[str, pd.DataFrame]) -> "Figure":
    """Spearman of OA with the number of heads of layer i, against i, one line per dataset."""
    fig, (ax,) = new_figure(1, panel=(4.5, 3.0))
    with _styled():
        for color, (ds, corr) in zip(_ramp(len(correlations)), correlations.items()):
            part = corr[(corr["quantity"] == "OA") & corr["factor"].str.startswith("heads_L")]
            layers = part["factor"].str[len("heads_L"):].astype(int)
            ax.plot(layers, part["rho"], marker="o", ms=3, color=color, label=dataset_title(ds))
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("layer")
        ax.set_ylabel("Spearman ρ (OA, heads of layer)")
        ax.set_title("Heads per layer vs OA")
        ax.legend()
    return fig


def size_bin_lines(bins: Dict[str, pd.DataFrame]) -> "Figure":
    """Median and best OA per model-size quintile, one panel per dataset."""
    fig, axes = new_figure(len(bins), panel=(2.8, 2.6))
    with _styled():
        for ax, (ds, table) in zip(axes, bins.items()):
            ax.plot(table["bin"], table["oa_median"] * 100, marker="o", color=PAIR[0], label="median OA")
            ax.plot(table["bin"], table["oa_max"] * 100, marker="s", color=PAIR[1], label="best OA")
            ax.set_xticks(table["bin"])
            ax.set_xlabel("parameter-count quintile")
            ax.set_ylabel("OA (%)")
            ax.set_title(dataset_title(ds))
        _figure_legend(fig, axes[0])
    return fig


def size_preference_bars(prefs: Dict[str, pd.DataFrame]) -> "Figure":
    """Median size percentile of each score's top-10% picks; the line marks the oracle's (OA's) picks."""
    fig, axes = new_figure(len(prefs), panel=(3.0, 4.2), sharey=True)
    with _styled():
        for ax, (ds, table) in zip(axes, prefs.items()):
            oracle = table[table["quantity"].str.startswith("oracle")]
            rest = table[~table["quantity"].str.startswith("oracle")]
            y = np.arange(len(rest))[::-1]
            ax.barh(y, rest["median_size_pct"] * 100, color=PAIR[0], height=0.7, label="the score's top 10%")
            if len(oracle):
                ax.axvline(oracle["median_size_pct"].iloc[0] * 100, color=PAIR[1], lw=1.5,
                           label="OA's top 10% (the best architectures)")
            ax.set_yticks(y, rest["quantity"])
            ax.set_xlim(0, 100)
            ax.set_xlabel("median size percentile of picks")
            ax.set_title(dataset_title(ds))
        _figure_legend(fig, axes[0])
    return fig


def rf_curves(summary: pd.DataFrame) -> "Figure":
    """Held-out Spearman rho of the random forest against the training fraction, mean ± std over seeds."""
    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = new_figure(len(datasets), panel=(3.0, 2.8), sharey=True)
    with _styled():
        for ax, ds in zip(axes, datasets):
            part = summary[summary["dataset"] == ds]
            for (enc, feats), (color, style) in SERIES.items():
                s = part[(part["encoding"] == enc) & (part["features"] == feats)].sort_values("fraction")
                if s.empty:
                    continue
                x = s["fraction"] * 100
                ax.plot(x, s["rho_mean"], linestyle=style, marker="o", ms=3, color=color, label=f"{enc}, {feats}")
                ax.fill_between(x, s["rho_mean"] - s["rho_std"], s["rho_mean"] + s["rho_std"], color=color,
                                alpha=0.12, linewidth=0)
            ax.set_xscale("log")
            ax.set_xticks([1, 2.5, 5, 10, 20, 50], ["1", "2.5", "5", "10", "20", "50"])
            ax.set_xlabel("training architectures (%)")
            ax.set_ylabel("held-out Spearman ρ")
            ax.set_title(dataset_title(ds))
        _figure_legend(fig, axes[0])
    return fig
