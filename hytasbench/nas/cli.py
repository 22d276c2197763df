"""``hytasbench search``: run search algorithms against a table with simulated cost.

    hytasbench search --algo regularized_evolution random_search --dataset indian_pines \\
        --budget 3h --seeds 50 --plot regret.png

``add_parser(subparsers)`` registers the subcommand on the main ``hytasbench`` parser;
``main(argv)`` runs it standalone (``python -m hytasbench.nas.cli ...``).
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
import warnings
from typing import Any, Dict, List, Optional, Tuple

from ..arguments import check_seed_count
from ..durations import UNITS, parse_duration
from ..errors import InvalidArgumentError, InvalidBudgetError, InvalidSettingError
from .registry import ALGORITHMS, make_searcher
from .runner import Budget
from .space_view import DEFAULT_NEIGHBOURS

_COUNTS = {"t": "trainings", "trainings": "trainings", "e": "evaluations", "evals": "evaluations",
           "evaluations": "evaluations"}
_COUNT_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)


def parse_budget(text: str) -> Budget:
    """``3600``/``3600s``/``90m``/``3h``/``1h30m``/``1.5d`` (simulated time, hytasbench.durations),
    ``100trainings``/``100t``, ``500evaluations``/``500e``; several joined by ``,`` stop at whichever
    comes first."""
    kwargs: Dict[str, Any] = {}
    for part in str(text).split(","):
        m = _COUNT_RE.match(part)
        if m and m.group(2).lower() in _COUNTS:
            number = float(m.group(1))
            if not number.is_integer():
                raise InvalidBudgetError(f"budget {part.strip()!r}: a count must be a whole number")
            kwargs[_COUNTS[m.group(2).lower()]] = int(number)
            continue
        try:
            kwargs["seconds"] = parse_duration(part)
        except InvalidArgumentError:
            raise InvalidBudgetError(
                f"cannot read budget {part.strip()!r}: use a positive number with an optional unit, "
                f"seconds {sorted(UNITS)} or counts {sorted(set(_COUNTS))}, e.g. 3h, 5400s, 100trainings") from None
    return Budget(**kwargs)


def _pairs(items: Optional[List[str]], what: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidSettingError(f"{what} must look like NAME=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value  # a bare word such as a proxy name
    return out


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``search`` on an ``argparse`` subparsers object; returns the new parser."""
    p = subparsers.add_parser("search", help="run NAS algorithms against the table with simulated cost",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--algo", nargs="+", required=True, metavar="NAME",
                   help=f"one or more of: {', '.join(ALGORITHMS)}")
    p.add_argument("--dataset", required=True, help="indian_pines, salinas, houston2013, paviau, ksc")
    p.add_argument("--budget", required=True, type=str,
                   help="simulated time (3h, 90m, 5400s) or a count (100trainings, 500evaluations); "
                        "comma-separate to combine")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds, 0..N-1 (default 10)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="algorithm parameter, e.g. population_size=20 or proxy=grad_norm (repeatable)")
    p.add_argument("--proxy-seconds", action="append", metavar="PROXY=SECONDS",
                   help="simulated cost of one proxy evaluation where the table records none (repeatable)")
    p.add_argument("--neighbours", type=int, default=DEFAULT_NEIGHBOURS,
                   help=f"size of the tabulated neighbourhood used by mutation and local search "
                        f"(default {DEFAULT_NEIGHBOURS})")
    p.add_argument("--at", type=float, nargs="+",
                   help="report regret at these budgets (seconds or trainings); default: 1/4, 1/2, all")
    p.add_argument("--space", choices=("table", "full"), default="table",
                   help="'table': the tabulated architectures (default); 'full': the whole space, OA and cost "
                        "from the surrogate fitted to the table (docs/surrogate.md)")
    p.add_argument("--workers", type=int, default=1,
                   help="evaluations in flight at once, results in order of simulated finish time (default 1)")
    p.add_argument("--synchronous", action="store_true",
                   help="with --workers: run synchronous batches instead of asynchronous workers")
    p.add_argument("--pool", type=int, default=None,
                   help="--space full: size of the seeded uniform sample random draws come from (default 10000)")
    p.add_argument("--noise-seed", type=int, default=0,
                   help="--space full: seed of the noise drawn from the surrogate's predictive distribution")
    p.add_argument("--source", help="table source: 'hytas', 'hytasbench' or a table-set folder")
    p.add_argument("--out", help="write every evaluation of every seed to this CSV")
    p.add_argument("--curve", help="write the regret curve (mean, spread over seeds) to this CSV")
    p.add_argument("--plot", help="save the regret plot to this image file (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_command)
    return p


def _axis(budget: Budget) -> Tuple[str, float]:
    if budget.seconds is not None:
        return "seconds", float(budget.seconds)
    if budget.trainings is not None:
        return "trainings", float(budget.trainings)
    return "seconds", float("nan")


def run_command(args: argparse.Namespace) -> int:
    """Run the ``search`` subcommand from parsed arguments; returns the exit status. Bad input
    is a HytasError, which the top-level CLI reports in one line (exit 2)."""
    import pandas as pd

    from ..benchmark import Benchmark
    from ..cli import to_json
    from .problem import SearchProblem
    from .regret import check_plot_file, plot_regret, regret_table
    from .runner import run_many

    from ..paths import writable_file

    budget = parse_budget(args.budget)
    check_seed_count(args.seeds, "--seeds (runs seeded 0..N-1)")
    if args.neighbours < 1:
        raise InvalidArgumentError(f"--neighbours must be at least 1, got {args.neighbours}")
    if args.at and any(not (a > 0) or a == float("inf") for a in args.at):
        raise InvalidArgumentError(f"--at takes budgets > 0 (seconds or trainings), got {args.at}")
    for option in ("out", "curve"):  # checked before the search, not after it
        if getattr(args, option) is not None:
            writable_file(getattr(args, option), f"--{option}")
    if args.plot is not None:
        check_plot_file(args.plot)
    params = _pairs(args.param, "--param")
    searchers = [(name, make_searcher(name, **params)) for name in args.algo]
    bench = Benchmark(source=args.source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.space == "full":
            from .full_space import DEFAULT_POOL, SurrogateProblem

            problem = SurrogateProblem.from_benchmark(bench, args.dataset, pool=args.pool or DEFAULT_POOL,
                                                      noise_seed=args.noise_seed,
                                                      proxy_seconds=_pairs(args.proxy_seconds, "--proxy-seconds"))
        else:
            problem = SearchProblem.from_benchmark(bench, args.dataset, neighbours=args.neighbours,
                                                   proxy_seconds=_pairs(args.proxy_seconds, "--proxy-seconds"))
    notes = [str(w.message) for w in caught]
    if args.space == "full":
        notes.append(f"OA and training seconds are surrogate predictions with sampled noise (noise seed "
                     f"{args.noise_seed}); regret is measured from the table's best OA, so it can be negative")
    results = [run_many(s, problem, budget, seeds=args.seeds, name=name, n_workers=args.workers,
                        synchronous=args.synchronous) for name, s in searchers]
    x, end = _axis(budget)
    if end != end:  # evaluations-only budget: report at the longest run's end
        end = max(t.end_seconds for r in results for t in r.trajectories)
    at = sorted(args.at) if args.at else [end / 4, end / 2, end]
    table = regret_table(results, at, x=x)
    runs = pd.concat([r.runs for r in results], ignore_index=True)
    final = runs.groupby("algorithm", sort=False).agg(regret=("regret", "mean"), regret_std=("regret", "std"),
                                                      best_oa=("best_oa", "mean"), trainings=("trainings", "mean"),
                                                      seconds=("seconds", "mean"))
    if args.out:
        pd.concat([r.frame for r in results], ignore_index=True).to_csv(args.out, index=False)
    if args.curve:
        from .regret import regret_curve

        regret_curve(results, x=x).to_csv(args.curve, index=False)
    if args.plot:
        ax = plot_regret(results, x=x)
        ax.set_title(f"{problem.dataset}, {args.seeds} seeds, budget {budget}")
        ax.figure.savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        print(to_json({"dataset": problem.dataset, "source": problem.source, "budget": str(budget),
                          "space": args.space, "workers": args.workers, "synchronous": args.synchronous,
                          "seeds": args.seeds, "best_oa_in_table": problem.best_oa, "notes": notes,
                          "final": final.reset_index().to_dict(orient="records"),
                          "at": {f"{a:g}": {alg: {"mean": table.loc[alg, ("mean", a)], "sem": table.loc[alg, ("sem", a)]}
                                            for alg in table.index} for a in at}}, default=float))
        return 0
    where = "the whole space" if args.space == "full" else f"{problem.space.n} candidates"
    print(f"{problem.dataset} ({problem.source}): {where}, best OA in the table {problem.best_oa:.4f}; "
          f"budget {budget}; {args.seeds} seeds; {args.workers} worker(s)"
          + (" in synchronous batches" if args.synchronous else ""))
    for note in notes:
        print(f"note: {note}")
    print("\nat the end of the budget (mean over seeds):")
    print(final.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\nmean regret (sem) at {x}:")
    cells = {f"{a:g}": [f"{table.loc[alg, ('mean', a)]:.4f} ({table.loc[alg, ('sem', a)]:.4f})" for alg in table.index]
             for a in at}
    print(pd.DataFrame(cells, index=table.index).to_string())
    print("\nregret = best OA in the table - best OA found; both are test-set OA (see docs/nas.md)")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Standalone entry point: ``python -m hytasbench.nas.cli --algo ... --dataset ... --budget ...``,
    the same as ``hytasbench search ...``."""
    from ..cli import main as cli_main

    return cli_main(["search"] + list(sys.argv[1:] if argv is None else argv))

if __name__ == "__main__":
    sys.exit(main())
