"""How well does a user's proxy rank the HyTAS architectures? ``evaluate_proxy`` scores it on a
stratified sample (or any list) through the table builders (resumable, parallel, kill-safe, with
progress), writes a table set of its own, and sets its ranking quality against trained OA next to
every built-in proxy, params and FLOPs on the same architectures.

Running units is the builders' job (``python -m builders.build --user-proxy``): this module runs
that command as a child process (the library never imports the offline tools) and evaluates what
it wrote.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from .arguments import check_int, check_seed, check_seeds, is_integer
from .byop import UserProxy, as_proxy
from .datasets.specs import canonical_name
from .errors import BuildError, HytasError, InvalidSampleError, UnknownSourceError, require, short_repr
from .schema import proxy_column

ArchSpec = Union[int, str, Sequence[Any]]


@dataclass
class ProxyEvaluation:
    """``scores``: one row per (architecture, seed) with the user's score (null with ``error``
    when the function failed); ``summary``: one row per score (the user's per seed, then the
    built-ins) with n, Spearman rho, Kendall tau, top-k precision, top-1 OA and bootstrap CIs
    against ``oa_source``'s OA on the same architectures; ``tables``: the written table set."""

    proxy: UserProxy
    dataset: str
    scores: Any
    summary: Any
    tables: Path
    oa_source: str

    def to_markdown(self) -> str:
        cols = ["proxy", "source", "n", "rho", "rho_lo", "rho_hi", "tau", "prec_top10pct", "top1", "top1_lo", "top1_hi"]
        table = self.summary[[c for c in cols if c in self.summary.columns]]
        head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
        body = "".join("| " + " | ".join(_fmt(v) for v in row) + " |\n" for row in table.itertuples(index=False))
        return (f"# {self.proxy.name} on {self.dataset}\n\nOA from source {self.oa_source!r}; "
                f"{len(self.scores)} scored units; user proxy {self.proxy.spec} (sha256 {self.proxy.sha256[:16]})."
                f"\n\n{head}{body}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if v != v else f"{v:.3f}"
    return str(v)


def _archs_arg(archs: ArchSpec, sample_seed: int) -> str:
    """The builder's ``--archs`` for ``archs``, checked here: a sample size outside 1..2000 is an
    InvalidSampleError, an architecture outside the space an InvalidArchitectureError."""
    from . import space

    if is_integer(archs):
        space.stratified_sample(int(archs), sample_seed)  # checks the size
        return f"sample:{int(archs)}:{sample_seed}"
    if isinstance(archs, str):
        space.select(archs)  # a bad selection fails here, naming what is wrong, not in the builder
        return archs
    if isinstance(archs, (bytes, Mapping)) or not isinstance(archs, Iterable):
        raise InvalidSampleError(f"archs {short_repr(archs)}: give a sample size (int), a selection string "
                                 "or a list of architectures")
    listed = [str(space.parse(a)) for a in archs]
    if not listed:
        raise InvalidSampleError("archs is an empty list: name at least one architecture")
    return ",".join(listed)


def evaluate_proxy(fn: Union[Callable, str, UserProxy], dataset: str = "indian_pines", archs: ArchSpec = 300, *,
                   seeds: Sequence[int] = (0,), workers: int = 2, out: Optional[os.PathLike] = None,
                   work: Optional[os.PathLike] = None, name: Optional[str] = None, orientation: int = 1,
                   oa_source: str = "hytas", compare: Sequence[str] = ("hytasbench", "hytas"),
                   data_root: Optional[str] = None, sample_seed: int = 0, n_boot: int = 1000,
                   quiet: bool = True) -> ProxyEvaluation:
    """Score ``fn`` (a top-level function ``(model, batch) -> float``, or "file.py:function") on
    ``archs`` (an int: a stratified sample of that size drawn with ``sample_seed``; a builder spec
    such as "1-50"; or a list) of ``dataset`` at each of ``seeds`` with ``workers`` CPU processes,
    and evaluate it against the OA of ``oa_source`` next to the built-in scores of ``compare``.

    ``out`` (default ``./hytasbench-proxy-<name>``) receives the table set; ``work`` (default
    ``<out>.work``) the resumable unit files: calling again with the same arguments resumes.
    """
    require("torch", "torch", "evaluate_proxy (scoring on subnets)")  # before a "file.py:fn" is imported
    proxy = as_proxy(fn, name, orientation)
    out = Path(out) if out is not None else Path(f"hytasbench-proxy-{proxy.name}")
    work = Path(work) if work is not None else out.with_name(out.name + ".work")
    # every argument is checked here, before the builder runs, so that the error names it
    workers = check_int(workers, "workers", minimum=1, error=BuildError)
    seed_list = check_seeds(seeds, "seeds", error=BuildError)
    dataset = canonical_name(dataset)
    arch_spec = _archs_arg(archs, check_seed(sample_seed, "sample_seed", error=BuildError))
    oa = _open(oa_source, "OA source")  # before any work: a missing source fails at once
    argv = ["--device", "cpu", "--workers", str(workers), "--datasets", dataset, "--kind", "proxies",
            "--archs", arch_spec, "--seeds", ",".join(map(str, seed_list)),
            "--user-proxy", proxy.spec, "--user-proxy-name", proxy.name,
            "--user-proxy-orientation", str(proxy.orientation), "--out", str(out), "--work", str(work)]
    if data_root is not None:
        argv += ["--data-root", str(data_root)]
    if quiet:
        argv.append("--quiet")
    code = _run_builder(argv)
    if code not in (0, 3) or not (out / "manifest.json").is_file():
        raise BuildError(f"scoring {proxy.name} failed (builder exit code {code}); see {work}/logs")
    return summarise(proxy, out, dataset, oa, oa_source, compare, n_boot)


def _run_builder(argv: List[str]) -> int:
    """``python -m builders.build ARGV`` in a child process that imports what this process
    imports (its sys.path, as the builder's own spawned workers get it); its exit code."""
    import subprocess

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([sys.executable, "-m", "builders.build", *argv], env=env).returncode


def _open(source: str, what: str):
    from .benchmark import Benchmark

    try:
        return Benchmark(source=source)
    except HytasError as exc:
        hint = " (run `hytasbench import` for the authors' results)" if source == "hytas" else ""
        raise UnknownSourceError(source, [f"a {what} with trained OA{hint}: {exc}"]) from None


def summarise(proxy: UserProxy, tables: Path, dataset: str, oa_bench: Any, oa_source: str,
              compare: Sequence[str], n_boot: int = 1000) -> ProxyEvaluation:
    """The evaluation of a written user-proxy table set (no scoring)."""
    from .analysis.data import score_columns
    from .benchmark import Benchmark
    from .schema import declare_proxy, metric_column, proxy_column

    declare_proxy(proxy.name, proxy.orientation)  # the user's orientation, for the statistics below
    mine = Benchmark(source=tables)
    rows = mine.frame(dataset, runs="all")
    col = proxy_column(proxy.name)
    extras = {proxy_column(proxy.name, v): v for v in ("error", "seconds")}
    scores = rows[["arch", "arch_id", "seed", col, *extras]].rename(
        columns={col: "score", **extras}).reset_index(drop=True)
    frame = oa_bench.frame(dataset)[["arch", metric_column("oa")]].merge(rows[rows["run"] == 0][["arch"]], on="arch")
    labels: Dict[str, str] = {}
    for seed, group in rows.groupby("seed"):
        c = f"{col}__seed{seed}"  # keeps the proxy_<name> prefix: orientation follows the name
        frame = frame.merge(group[["arch", col]].rename(columns={col: c}), on="arch", how="left")
        labels[f"{proxy.name} (seed {seed})"] = c
    for src in compare:
        try:
            theirs = Benchmark(source=src).frame(dataset)
        except HytasError:
            continue  # a comparison source that is not here is left out (the summary lists those used)
        picked = score_columns(theirs)
        renamed = {c: f"{c}__{src}" for c in picked.values()}
        frame = frame.merge(theirs[["arch"] + list(renamed)].rename(columns=renamed), on="arch", how="left")
        name = Benchmark(source=src).sources[0]
        labels.update({f"{label} ({name})": renamed[c] for label, c in picked.items()})
    summary = _quality(frame, labels, n_boot)
    summary.insert(1, "source", ["user" if lab.startswith(f"{proxy.name} (seed ") else lab.rpartition("(")[2][:-1]
                                 for lab in summary["proxy"]])
    return ProxyEvaluation(proxy, dataset, scores, summary, Path(tables), oa_source)


def _quality(frame: Any, labels: Dict[str, str], n_boot: int) -> Any:
    from .analysis.correlation import proxy_quality

    usable = {k: v for k, v in labels.items() if frame[v].notna().sum() >= 3}
    return proxy_quality(frame, usable, target="metric_oa", n_boot=n_boot)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluate-proxy", help="score your own proxy on HyTAS architectures and rank it against OA",
                       description="Score FILE.py:FUNCTION (a function (model, batch) -> float, see docs/proxies.md) "
                                   "with the table builders (resumable: run the same command again to continue), "
                                   "write its table set to --out, and print its ranking quality against trained OA "
                                   "next to the built-in proxies on the same architectures.")
    p.add_argument("proxy", metavar="FILE.py:FUNCTION")
    p.add_argument("--dataset", default="indian_pines")
    p.add_argument("--archs", default="300", help="a number N (a stratified sample of N HyTAS-2000 architectures, "
                   "seeded by --sample-seed) or a builder spec such as 1-50 or @file (default 300)")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--seeds", default="0", help="initialisation/batch seeds, e.g. 0 or 0,1,2")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", required=True, help="folder of the table set to write (Benchmark(source=OUT) loads it)")
    p.add_argument("--work", help="resumable unit files (default OUT.work)")
    p.add_argument("--name", help="column name (default: the function's name)")
    p.add_argument("--orientation", type=int, choices=[1, -1], default=1)
    p.add_argument("--oa-source", default="hytas", help="table source with trained OA (default: the imported reference)")
    p.add_argument("--data-root", help="dataset folder (default $HYTASBENCH_DATA or the cache)")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd)


def _cmd(args: Any) -> int:
    from .cli import to_json

    if args.n_boot < 0:
        raise BuildError(f"--n-boot must be >= 0, got {args.n_boot}")
    archs: ArchSpec = int(args.archs) if re.fullmatch(r"[0-9]{1,6}", args.archs) else args.archs

    ev = evaluate_proxy(args.proxy, args.dataset, archs, seeds=[int(s) for s in args.seeds.split(",") if s.strip()],
                        workers=args.workers, out=args.out, work=args.work, name=args.name,
                        orientation=args.orientation, oa_source=args.oa_source, data_root=args.data_root,
                        sample_seed=args.sample_seed, n_boot=args.n_boot, quiet=False)
    ev.summary.to_csv(Path(args.out) / "evaluation.csv", index=False)
    (Path(args.out) / "evaluation.md").write_text(ev.to_markdown())
    if args.json:
        print(to_json(ev.summary.to_dict(orient="records"), indent=1, default=str))
    else:
        print(ev.to_markdown())
    failed = int(ev.scores["error"].notna().sum())
    if failed:
        print(f"{failed} of {len(ev.scores)} units have no score; reasons in the table's "
              f"{proxy_column(ev.proxy.name, 'error')} column", file=sys.stderr)
    return 0
