"""One prepared GPU check: the CUDA tests, throughput, a small real build, the projected cost of
the whole build and the protocol experiment, within a time budget, all under one output folder.

    PYTHONPATH=. python benchmarks/gpu_check.py --out gpu-check --data-root /data/hsi --reference /data/hytas
    PYTHONPATH=. python benchmarks/gpu_check.py --device cpu --tiny --out /tmp/check --data-root /data/hsi

Parts, in this order (each writes ``parts/<name>.json`` atomically; a part whose file says
``complete`` is skipped on a second run, and the others resume where they stopped):

- ``cuda_tests``: ``pytest -m cuda`` over the test files that have CUDA-marked tests.
- ``throughput``: ``bench_train.measure_model`` for the smallest, median and largest HyTAS-2000
  architectures (by FLOPs) and SpectralFormer: samples/s of our training and evaluation against
  the plain DataLoader loop, and % of a matmul peak measured in the same run.
- ``build``: ``python -m builders.build --gpu 0`` on the real Indian Pines: proxies for 50
  architectures, the full training protocol for 3 of them (resumable through its work directory).
- ``projection``: GPU-hours of the whole 2000 x 5 build, from the build's proxy units and short
  timed training runs (``bench_build.time_train``/``project``), checked against the build's
  full-protocol units.
- ``protocol``: the 22 architectures with embed 32 and depth 4 plus a width series, trained on
  the real Indian Pines under each of ``--protocols``, seeds 0 and 1, compared with the published
  OA (``--reference``). Results are ``python -m hytasbench.train`` JSON files, ready for
  ``python -m builders.build --ingest``.

Each part gets a share of ``--budget-s`` (and what earlier parts left); when the budget is spent
the check stops cleanly and writes ``summary.json`` and ``summary.md``: what ran, what was left.
``--tiny`` runs every part at toy scale (a few architectures, one epoch), e.g. on a CPU.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import bench_build  # noqa: E402
import bench_train  # noqa: E402
import torch  # noqa: E402

from hytasbench import protocols, space  # noqa: E402
from hytasbench.errors import BuildError, HytasError  # noqa: E402
from hytasbench.tables import atomic_write_bytes  # noqa: E402

PARTS = ("cuda_tests", "throughput", "build", "projection", "protocol")
#: the most of the whole budget each part may take (the protocol experiment takes what is left)
SHARES = {"cuda_tests": 0.12, "throughput": 0.10, "build": 0.38, "projection": 0.08, "protocol": 1.0}
RESERVE_S = 5.0  # kept for the summary
MIN_PART_S = 5.0  # a part with less time than this is left for the next run
DATASET = "indian_pines"
#: the experiment's default protocols: ours and the emulated upstream sampler (any other
#: hytasbench.protocols name, e.g. the full emulation hytas-sampler+lag+caf8+epoch-order, or NAME:field=value,...)
PROTOCOLS = (protocols.PROTOCOL, protocols.HYTAS_SAMPLER)


@dataclass(frozen=True)
class Scale:
    """How much each part does."""

    steps: int = 50  # throughput: timed training batches per measurement
    batch: int = 64
    eval_pixels: int = 4096
    eval_batch: int = 512
    peak_n: Optional[int] = None  # matmul size of the peak (None: bench_train's default for the device)
    models: Tuple[str, ...] = bench_train.MODELS
    build_archs: Optional[Tuple[int, ...]] = None  # None: 50 ids spread evenly over 1..2000
    build_proxy_count: int = 50
    build_train_count: int = 3  # at FLOPs quantiles 0, 0.5, 1 of the build's architectures
    build_epochs: Optional[int] = None  # None: the protocol's 300
    build_test_subset: Optional[int] = None
    projection_archs: int = 4  # short training runs timed, at FLOPs quantiles 5..95 %
    projection_epochs: int = 3
    projection_eval_pixels: int = 2048
    small_archs: Optional[int] = None  # how many of the 22 (None: all)
    width_embeds: Optional[Tuple[int, ...]] = None  # None: every embed of the space
    width_depths: Tuple[int, ...] = (4, 7, 10)
    seeds: Tuple[int, ...] = (0, 1)
    epochs: Optional[int] = None  # protocol runs: None = the protocol's
    test_subset: Optional[int] = None


FULL = Scale()
TINY = Scale(steps=2, batch=16, eval_pixels=64, eval_batch=64, peak_n=512, models=("smallest", "spectralformer"),
             build_archs=(397,), build_proxy_count=1, build_train_count=1, build_epochs=1, build_test_subset=100,
             projection_archs=1, projection_epochs=1, projection_eval_pixels=64, small_archs=1, width_embeds=(48,),
             width_depths=(4,), seeds=(0,), epochs=1, test_subset=100)


# ---- the run's state ---------------------------------------------------------------------------

class Check:
    """Options, the output folder and the clock shared by the parts."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out: Path = args.out
        self.scale = TINY if args.tiny else FULL
        self.device = f"cuda:{args.gpu}" if args.device == "cuda" else "cpu"
        self.start = time.time()
        self.deadline = self.start + args.budget_s
        self._data: Any = None

    def remaining(self) -> float:
        return self.deadline - time.time() - RESERVE_S

    def limit(self, part: str) -> float:
        return min(SHARES[part] * self.args.budget_s, self.remaining())

    def part_path(self, part: str) -> Path:
        return self.out / "parts" / f"{part}.json"

    def load_part(self, part: str) -> Dict[str, Any]:
        try:
            return json.loads(self.part_path(part).read_text())
        except FileNotFoundError:
            return {}

    def save_part(self, part: str, doc: Dict[str, Any]) -> None:
        write_json(self.part_path(part), doc)

    def data(self):
        """The real Indian Pines from --data-root (loaded once; a typed error says what is missing)."""
        if self._data is None:
            from hytasbench.datasets.load import load_dataset

            self._data = load_dataset(DATASET, self.args.data_root)
        return self._data

    def env(self) -> Dict[str, str]:
        """Environment of the subprocesses: this checkout first on the path, the data root known."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        if self.args.data_root:
            env["HYTASBENCH_DATA"] = str(self.args.data_root)
        return env


def write_json(path: Path, doc: Any) -> None:
    atomic_write_bytes(path, json.dumps(doc, indent=1, default=str).encode())


def run_command(cmd: List[str], log: Path, timeout: float, env: Dict[str, str]) -> Tuple[Optional[int], float]:
    """Run a command in its own process group with output to ``log``; (exit code or None on
    timeout, seconds). On timeout the whole group gets SIGTERM, then SIGKILL."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with open(log, "ab") as fh:
        fh.write(f"$ {' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
        try:
            return proc.wait(timeout=max(1.0, timeout)), time.perf_counter() - t
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=wait)
                    break
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    continue
            return None, time.perf_counter() - t


# ---- (a) the CUDA tests ------------------------------------------------------------------------

def part_cuda_tests(c: Check, limit: float, doc: Dict[str, Any]) -> Dict[str, Any]:
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py")
                   if "pytest.mark.cuda" in p.read_text())
    xml = c.out / "cuda_tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *files]
    code, seconds = run_command(cmd, c.out / "logs" / "cuda_tests.log", limit, c.env())
    doc.update(command=" ".join(cmd[1:]), files=files, exit_code=code, seconds=seconds)
    if code is None:
        return dict(doc, status="partial", reason=f"timed out after {limit:.0f} s")
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    skips = sorted({s.get("message", "") for s in suite.iter("skipped")})
    return dict(doc, status="complete", **counts, skip_reasons=skips)


# ---- (b) throughput ----------------------------------------------------------------------------

def part_throughput(c: Check, limit: float, doc: Dict[str, Any]) -> Dict[str, Any]:
    end = time.time() + limit
    device = torch.device(c.device)
    data = c.data()
    dtype, n = bench_train.peak_settings(device)
    peak = bench_train.matmul_peak(device, dtype, c.scale.peak_n or n)
    rows = doc.setdefault("rows", [])
    done = {r["model"] for r in rows}
    doc.update(machine=bench_train.machine(device), torch=torch.__version__, batch=c.scale.batch, steps=c.scale.steps,
               eval_pixels=c.scale.eval_pixels, eval_batch=c.scale.eval_batch)
    left = []
    for label, make in bench_train.reference_models(data, c.scale.models).items():
        if label in done:
            continue
        if time.time() > end:
            left.append(label)
            continue
        row = bench_train.measure_model(label, make, data, device, c.scale.steps, c.scale.batch,
                                        c.scale.eval_pixels, c.scale.eval_batch, peak)
        row.update(matmul_peak_flops=peak, peak_dtype=str(dtype))
        rows.append(row)
        print("  " + bench_train.describe_row(row), flush=True)
        c.save_part("throughput", dict(doc, status="partial", left=left))
    return dict(doc, status="partial" if left else "complete", left=left,
                reason=f"time share of {limit:.0f} s spent" if left else None)


# ---- (c) a small real build --------------------------------------------------------------------

def build_selection(c: Check) -> Tuple[List[str], List[str]]:
    """(architectures scored with proxies, the subset trained at the full protocol)."""
    from hytasbench.model import count_flops
    from hytasbench.space import parse

    ids = c.scale.build_archs or tuple(int(round(v)) for v in np.linspace(1, 2000, c.scale.build_proxy_count))
    archs = [str(a) for a in space.select(",".join(map(str, ids)))]
    flops = [count_flops(parse(a), 200, 16, 3) for a in archs]
    train = [archs[i] for i in bench_build.quantile_picks(flops, c.scale.build_train_count, 0.0, 1.0)]
    return archs, list(dict.fromkeys(train))


def builder_args(c: Check, kind: str, archs: Sequence[str]) -> List[str]:
    where = ["--gpu", str(c.args.gpu)] if c.args.device == "cuda" else ["--device", "cpu", "--workers", "1"]
    out = [sys.executable, "-m", "builders.build", *where, "--threads", "1", "--datasets", DATASET,
           "--archs", ",".join(archs), "--kind", kind, "--seeds", "0", "--work", str(c.out / "build" / "work"),
           "--out", str(c.out / "build" / "tables"), "--source", "gpu-check", "--quiet"]
    if c.args.data_root:
        out += ["--data-root", str(c.args.data_root)]
    if c.scale.build_epochs:
        out += ["--epochs", str(c.scale.build_epochs)]
    if c.scale.build_test_subset:
        out += ["--test-subset", str(c.scale.build_test_subset)]
    return out


def part_build(c: Check, limit: float, doc: Dict[str, Any]) -> Dict[str, Any]:
    from builders.workdir import WorkDir

    c.data()  # fail here, with the loader's message, when the real cube is not in --data-root
    end = time.time() + limit
    archs, train = build_selection(c)
    steps = [("proxies", archs, 0.5), ("train", train, 1.0)]
    log = c.out / "logs" / "build.log"
    runs = doc.setdefault("runs", [])
    codes = []
    for kind, selection, share in steps:
        slot = share * (end - time.time() - 20) if kind == "proxies" else end - time.time() - 20  # 20 s: the merge
        grace = min(30.0, max(5.0, 0.1 * slot))
        run_for = slot - grace - 15  # 15 s: the builder's start-up
        if run_for < MIN_PART_S:
            codes.append(None)
            continue
        cmd = builder_args(c, kind, selection) + ["--no-merge", "--time-limit", f"{int(run_for)}s",
                                                  "--grace", f"{grace:.0f}"]
        code, seconds = run_command(cmd, log, slot, c.env())  # killed (its work dir intact) at the slot's end
        runs.append({"command": "python " + " ".join(cmd[1:]), "exit_code": code, "seconds": seconds})
        codes.append(code)
    merge = builder_args(c, "both", archs) + ["--merge-only"]
    code, seconds = run_command(merge, log, max(20.0, end - time.time()), c.env())
    runs.append({"command": "python " + " ".join(merge[1:]), "exit_code": code, "seconds": seconds})
    wd = WorkDir(c.out / "build" / "work")
    units = {k: [wd.result(key) for key in sorted(wd.done_keys()) if f"__{k}" in key] for k in ("proxies", "train")}
    timer = "seconds" if c.args.device == "cuda" else "cpu_seconds"
    proxy_s = [r[timer] for r in units["proxies"] if timer in r]
    doc.update(archs=archs, train_archs=train, timer=timer, proxies_done=len(units["proxies"]),
               proxy_seconds_mean=float(np.mean(proxy_s)) if proxy_s else None,
               proxy_seconds_median=float(np.median(proxy_s)) if proxy_s else None,
               trained=[{"arch": r["unit"]["arch"], "oa": r["columns"].get("metric_oa"), "seconds": r["seconds"],
                         "cpu_seconds": r.get("cpu_seconds"), "protocol": r["columns"].get("protocol"),
                         "device": r.get("device")} for r in units["train"]],
               tables=str(c.out / "build" / "tables"))
    manifest = c.out / "build" / "tables" / "manifest.json"
    if manifest.is_file():
        doc["coverage"] = json.loads(manifest.read_text())["build"].get("coverage")
    # the merge's own exit status is 3 while training units of the other architectures are (by design) absent
    complete = codes == [0, 0] and code in (0, 3) and manifest.is_file()
    return dict(doc, status="complete" if complete else "partial",
                reason=None if complete else f"builder exit codes {codes} (3: time limit; run again to resume), "
                                             f"merge {code}")


# ---- (d) the projected cost of the whole build --------------------------------------------------

def part_projection(c: Check, limit: float, doc: Dict[str, Any]) -> Dict[str, Any]:
    from hytasbench.model import count_flops
    from hytasbench.space import hytas2000

    end = time.time() + limit
    data = c.data()
    gpu = c.args.device == "cuda"
    timer = "seconds" if gpu else "cpu_seconds"
    archs = hytas2000()
    flops = [count_flops(a, data.bands, data.num_classes, data.band_patch) for a in archs]
    points = doc.setdefault("train_points", {})
    left = []
    for i in bench_build.quantile_picks(flops, c.scale.projection_archs, 0.05, 0.95):
        arch = str(archs[i])
        if arch in points:
            continue
        if time.time() > end:
            left.append(arch)
            continue
        epoch, full_eval = bench_build.time_train(arch, data, c.scale.projection_epochs,
                                                  c.scale.projection_eval_pixels, c.device, c.args.threads)
        points[arch] = {"flops": flops[i], "epoch_seconds": epoch, "full_eval_seconds": full_eval}
        c.save_part("projection", dict(doc, status="partial"))
    work = c.out / "build" / "work"
    proxy_points = [(data.num_classes * f, s) for f, s in bench_build.from_work(work, DATASET, timer)]
    n_train, n_test = len(data.train_labels), len(data.test_labels)
    train_pts = [(n_train * p["flops"], p["epoch_seconds"]) for p in points.values()]
    eval_pts = [(n_test * p["flops"], p["full_eval_seconds"]) for p in points.values()]
    doc.update(timer=timer, hours_of=f"one build worker on {bench_train.machine(torch.device(c.device))}",
               proxy_units_used=len(proxy_points), epochs_timed=c.scale.projection_epochs,
               eval_pixels_timed=c.scale.projection_eval_pixels)
    if not train_pts or not proxy_points:
        why = "no finished proxy unit in the build part" if not proxy_points else "no training run timed"
        return dict(doc, status="partial", left=left, reason=f"nothing to project from: {why}")
    fits = bench_build.Fits.of(proxy_points, train_pts, eval_pts)
    doc["projection"] = bench_build.project(fits, c.args.data_root)
    checks = []  # the build's training units against what the fit says they take
    for unit in (json.loads(p.read_text()) for p in (work / "done").glob(f"{DATASET}__train*.json")):
        cols = unit["columns"]
        epochs = c.scale.build_epochs or 300
        tested = min(c.scale.build_test_subset or n_test, n_test)
        if timer in unit:
            predicted = float(fits.train_seconds(cols["cost_flops"], n_train, tested, epochs))
            checks.append({"arch": unit["unit"]["arch"], "epochs": epochs, "test_pixels": tested,
                           "measured_s": unit[timer], "projected_s": predicted, "ratio": unit[timer] / predicted})
    doc["check_against_build"] = checks
    return dict(doc, status="partial" if left else "complete", left=left,
                reason=f"time share of {limit:.0f} s spent" if left else None)


# ---- (e) the protocol experiment ----------------------------------------------------------------

def resolve_protocols(items: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """A protocol name (hytasbench.protocols: ``hytasbench-v1``, ``hytas-sampler`` with any of its
    switches), or ``NAME:field=value,...`` (TrainConfig protocol fields) -> settings."""
    from hytasbench.train import TrainConfig

    allowed = tuple(TrainConfig._PROTOCOL_FIELDS) + tuple(k for k in protocols.switch_fields(protocols.HYTAS_SAMPLER_FULL)
                                                         if k not in TrainConfig._PROTOCOL_FIELDS)
    out: Dict[str, Dict[str, Any]] = {}
    for item in items:
        name, sep, spec = item.partition(":")
        if not sep:
            try:
                out[name] = dict(protocols.switch_fields(name))
            except HytasError as exc:
                raise BuildError(f"protocol {name!r}: {exc}; or NAME:field=value,... "
                                 f"with TrainConfig protocol fields ({', '.join(allowed)})")
            continue
        settings: Dict[str, Any] = {}
        for kv in filter(None, spec.split(",")):
            key, eq, value = kv.partition("=")
            if not eq or key not in allowed:
                raise BuildError(f"protocol {item!r}: {kv!r} is not field=value with a TrainConfig protocol "
                                 f"field ({', '.join(allowed)})")
            default = getattr(TrainConfig(), key)
            kind = int if default is None else type(default)
            try:
                settings[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
            except ValueError:
                raise BuildError(f"protocol {item!r}: {key} must be a {kind.__name__}, got {value!r}") from None
        out[name] = settings
    return out


def experiment_archs(scale: Scale) -> Dict[str, List[str]]:
    """The 22 HyTAS-2000 architectures with embed 32 and depth 4, and a width series: the
    lowest-id architecture of each (embed, depth) for every embed of the space and a few depths."""
    from hytasbench.space import hytas2000

    archs = hytas2000()
    small = [str(a) for a in archs if a.embed_dim == 32 and a.depth == 4][:scale.small_archs]
    embeds = scale.width_embeds or tuple(sorted({a.embed_dim for a in archs}))
    width = []
    for e in embeds:
        for d in scale.width_depths:
            first = next((a for a in archs if a.embed_dim == e and a.depth == d), None)
            if first is not None and str(first) not in small:
                width.append(str(first))
    return {"small": small, "width": width}


def safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)


_DATA: Any = None


def _init_worker(root: Optional[str], threads: int) -> None:
    global _DATA
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from hytasbench.datasets.load import load_dataset

    torch.set_num_threads(threads)
    _DATA = load_dataset(DATASET, root)


def _train_task(task: Dict[str, Any]) -> Dict[str, Any]:
    """Run one training of the protocol experiment (in a worker process); store its result atomically."""
    from hytasbench.train import TrainConfig, train_and_evaluate

    if time.time() > task["deadline"]:
        return {"path": task["path"], "state": "not started"}
    try:
        cfg = TrainConfig(seed=task["seed"], device=task["device"], threads=task["threads"], **task["settings"])
        result = train_and_evaluate(task["arch"], _DATA, cfg).to_dict()
    except Exception as exc:  # recorded; the other runs go on
        return {"path": task["path"], "state": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-2000:]}
    result["protocol_label"] = task["label"]
    write_json(Path(task["path"]), result)
    return {"path": task["path"], "state": "done", "seconds": result["train_seconds"]}


def protocol_tasks(c: Check, protocols: Dict[str, Dict[str, Any]], groups: Dict[str, List[str]],
                   results: Path, deadline: float) -> List[Dict[str, Any]]:
    """The runs not finished yet, most informative first: both groups at the first seed (the
    spread across architectures at one seed is what compares with the published single runs),
    then the other seeds; each architecture under every protocol in turn."""
    overrides = {k: v for k, v in (("epochs", c.scale.epochs), ("test_subset", c.scale.test_subset)) if v}
    tasks = []
    for seed in c.scale.seeds:
        for group in ("small", "width"):
            for arch in groups[group]:
                for label, settings in protocols.items():
                    path = results / f"{safe(label)}__s{seed}__{arch}.json"
                    if not path.is_file():
                        tasks.append({"label": label, "settings": {**settings, **overrides}, "arch": arch,
                                      "seed": seed, "path": str(path), "deadline": deadline, "device": c.device,
                                      "threads": c.args.threads})
    return tasks


def part_protocol(c: Check, limit: float, doc: Dict[str, Any]) -> Dict[str, Any]:
    c.data()
    protocols = resolve_protocols(c.args.protocols)
    groups = experiment_archs(c.scale)
    results = c.out / "protocol" / "results"
    deadline = time.time() + limit - 10  # 10 s: stopping the workers and the comparison
    tasks = protocol_tasks(c, protocols, groups, results, deadline)
    doc.update(protocols=protocols, groups=groups, seeds=list(c.scale.seeds), workers=c.args.workers,
               results=str(results), epochs=c.scale.epochs or 300, test_subset=c.scale.test_subset)
    failures = doc.setdefault("failures", [])
    finished = 0
    if tasks:
        pool = mp.get_context("spawn").Pool(min(c.args.workers, len(tasks)), _init_worker,
                                            (c.args.data_root, c.args.threads))
        try:
            it = pool.imap_unordered(_train_task, tasks)
            for _ in tasks:
                try:
                    r = it.next(timeout=max(0.1, deadline - time.time()))
                except mp.TimeoutError:
                    break
                if r["state"] == "failed":
                    failures.append(r)
                    print(f"  failed: {Path(r['path']).name}: {r['error']}", flush=True)
                elif r["state"] == "done":
                    finished += 1
                    print(f"  {Path(r['path']).name}: {r['seconds']:.0f} s", flush=True)
        finally:
            pool.terminate()  # a run still going at the deadline is dropped whole: nothing partial is written
            pool.join()
    left = [Path(t["path"]).name for t in tasks if not Path(t["path"]).is_file()]
    doc["comparison"] = compare(results, groups, c)
    return dict(doc, status="partial" if left else "complete", runs_this_time=finished, left=left,
                reason=f"{len(left)} runs left when its time ({limit:.0f} s) was spent" if left else None)


def published(c: Check) -> Tuple[Optional[Any], Optional[str]]:
    """The authors' Indian Pines table (imported once into the output folder), or why there is none."""
    if not c.args.reference:
        return None, "no --reference given"
    from builders.import_hytas import import_reference
    from hytasbench import Benchmark

    dest = c.out / "reference_tables"
    if not (dest / "manifest.json").is_file():
        import_reference(Path(c.args.reference), dest)
    return Benchmark(source=dest).frame(DATASET), None


def stats(values: Sequence[float]) -> Dict[str, Any]:
    v = np.asarray(values, float)
    return {"n": int(v.size), "mean": float(v.mean()) if v.size else None,
            "std": float(v.std(ddof=1)) if v.size > 1 else None, "median": float(np.median(v)) if v.size else None}


def compare(results: Path, groups: Dict[str, List[str]], c: Check) -> Dict[str, Any]:
    """Level, spread and rank agreement of our OA with the published OA, per protocol and seed."""
    from scipy.stats import spearmanr

    from hytasbench.space import parse

    runs = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    ref, why = published(c)
    pub: Dict[str, float] = {}
    out: Dict[str, Any] = {"runs": len(runs), "published": why or "the authors' OA, imported from --reference"}
    if ref is not None:
        pub = {a: float(oa) for a, oa in zip(ref["arch"], ref["metric_oa"]) if oa == oa}
        out["published_small_all"] = stats([pub[a] for a in groups["small"] if a in pub])
        out["published_median_by_embed_all"] = {int(e): float(g["metric_oa"].median())
                                               for e, g in ref.groupby("embed_dim")}
    rows = []
    for label in sorted({r["protocol_label"] for r in runs}):
        for seed in sorted({r["seed"] for r in runs if r["protocol_label"] == label}):
            mine = {r["arch"]: r for r in runs if r["protocol_label"] == label and r["seed"] == seed}
            small = [a for a in groups["small"] if a in mine]
            both = [a for a in small if a in pub]
            row: Dict[str, Any] = {"protocol": label, "protocol_name": next(iter(mine.values()))["protocol"],
                                   "seed": seed, "small": stats([mine[a]["oa"] for a in small]),
                                   "small_published_same_archs": stats([pub[a] for a in both])}
            if len(both) >= 3:
                rho = spearmanr([mine[a]["oa"] for a in both], [pub[a] for a in both])[0]
                row["small_spearman"] = {"n": len(both), "rho": None if rho != rho else float(rho)}
            by_embed: Dict[int, Dict[str, List[float]]] = {}
            for a in (a for a in groups["small"] + groups["width"] if a in mine):
                e = by_embed.setdefault(parse(a).embed_dim, {"ours": [], "published": []})
                e["ours"].append(mine[a]["oa"])
                if a in pub:
                    e["published"].append(pub[a])
            row["by_embed"] = {e: {"n": len(v["ours"]), "ours_median": float(np.median(v["ours"])),
                                   "published_median_same_archs": float(np.median(v["published"]))
                                   if v["published"] else None} for e, v in sorted(by_embed.items())}
            rows.append(row)
    out["rows"] = rows
    return out


# ---- the summary -------------------------------------------------------------------------------

def pct(x: Optional[float], digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def markdown(summary: Dict[str, Any], parts: Dict[str, Dict[str, Any]]) -> str:
    """summary.md: what ran, the figures, what was left."""
    lines = [f"# GPU check: {summary['machine']}", "",
             f"`{summary['command']}` — torch {summary['torch']}, budget {summary['budget_s']:.0f} s, "
             f"this run {summary['wall_s']:.0f} s{' (tiny scale)' if summary['tiny'] else ''}.", "",
             "| part | status | seconds (this run) | note |", "|---|---|---|---|"]
    for name in PARTS:
        p = parts.get(name, {})
        lines.append(f"| {name} | {p.get('status', 'not run')} | {p.get('run_seconds', 0):.0f} | "
                     f"{p.get('reason') or ''} |")
    t = parts.get("cuda_tests", {})
    if "tests" in t:
        lines += ["", "## CUDA tests", "", f"`{t['command']}`: {t['passed']} passed, {t['failures']} failed, "
                  f"{t['errors']} errors, {t['skipped']} skipped" + (f" ({'; '.join(t['skip_reasons'])})"
                                                                      if t["skip_reasons"] else "") + "."]
    b = parts.get("throughput", {})
    if b.get("rows"):
        r0 = b["rows"][0]
        lines += ["", "## Throughput (samples/s; ratio = ours / plain DataLoader loop)", "",
                  f"Batch {b['batch']}, {b['steps']} timed steps, evaluation of {b['eval_pixels']} test pixels in "
                  f"batches of {b['eval_batch']}; matmul peak {r0['matmul_peak_flops'] / 1e12:.2f} TFLOP/s "
                  f"({r0['peak_dtype']}).", "",
                  "| model | MFLOP/sample | train | plain loop | ratio | plain loop + fused attention | ratio | "
                  "eval | plain eval | ratio | train / eval % of peak |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in b["rows"]:
            lines.append(f"| {r['model']} | {r['flops_per_sample'] / 1e6:.0f} | {r['train_samples_s']:.0f} | "
                         f"{r['baseline_train_samples_s']:.0f} | {r['train_speedup']:.2f} | "
                         f"{r['baseline_fused_train_samples_s']:.0f} | {r['train_speedup_vs_fused_baseline']:.2f} | "
                         f"{r['eval_samples_s']:.0f} | {r['baseline_eval_samples_s']:.0f} | {r['eval_speedup']:.2f} | "
                         f"{pct(r['train_fraction_of_peak'])}% / {pct(r['eval_fraction_of_peak'])}% |")
    c = parts.get("build", {})
    if c.get("runs"):
        lines += ["", "## Build", ""] + [f"- `{r['command']}`: exit {r['exit_code']}, {r['seconds']:.0f} s"
                                         for r in c["runs"]]
        mean = c.get("proxy_seconds_mean")
        lines.append(f"- proxies: {c.get('proxies_done', 0)} of {len(c.get('archs', []))} architectures, "
                     f"{mean if mean is None else round(mean, 2)} s per unit on average ({c.get('timer')})")
        for r in c.get("trained", []):
            lines.append(f"- trained `{r['arch']}` ({r['protocol']}): OA {pct(r['oa'], 2)} %, {r['seconds']:.0f} s")
    d = parts.get("projection", {}).get("projection")
    if d:
        p = parts["projection"]
        lines += ["", "## Projected cost of the whole build (2000 architectures x 5 datasets, one seed)", "",
                  f"Hours of {p['hours_of']}; proxies fitted on {p['proxy_units_used']} build units, training on "
                  f"{len(p['train_points'])} runs of {p['epochs_timed']} epoch(s) (evaluation on "
                  f"{p['eval_pixels_timed']} test pixels, scaled to the whole test set).", "",
                  "| dataset | proxies, hours | training (300 epochs), hours |", "|---|---|---|"]
        for ds, r in d["datasets"].items():
            lines.append(f"| {ds} | {r['proxy_2000_hours']:.2f} | {r['train_2000_hours']:.1f} |")
        lines.append(f"| **all** | {d['proxies_hours']:.2f} | {d['training_hours']:.1f} |")
        for k in p.get("check_against_build", []):
            lines.append(f"\nBuild unit `{k['arch']}` ({k['epochs']} epochs, {k['test_pixels']} test pixels): "
                         f"measured {k['measured_s']:.0f} s, projected {k['projected_s']:.0f} s "
                         f"(ratio {k['ratio']:.2f}).")
    e = parts.get("protocol", {}).get("comparison")
    if e:
        lines += ["", "## Protocol experiment (real Indian Pines; OA in %)", "",
                  f"{e['runs']} runs; published: {e['published']}."]
        ps = e.get("published_small_all")
        if ps:
            lines.append(f"Published OA of the {ps['n']} architectures with embed 32 and depth 4: mean "
                         f"{pct(ps['mean'])}, std {pct(ps['std'])}.")
        lines += ["", "| protocol | seed | embed 32 depth 4: n | mean | std | published mean / std (same archs) | "
                  "Spearman (n) |", "|---|---|---|---|---|---|---|"]
        for r in e["rows"]:
            s, q, rho = r["small"], r["small_published_same_archs"], r.get("small_spearman")
            rank = "–" if not rho or rho["rho"] is None else f"{rho['rho']:.2f} ({rho['n']})"
            lines.append(f"| {r['protocol']} (`{r['protocol_name']}`) | {r['seed']} | {s['n']} | {pct(s['mean'])} | "
                         f"{pct(s['std'])} | {pct(q['mean'])} / {pct(q['std'])} | {rank} |")
        embeds = sorted({int(k) for r in e["rows"] for k in r["by_embed"]})
        lines += ["", "Median OA per width, ours (n runs; published median of the same architectures):", "",
                  "| protocol | seed | " + " | ".join(f"embed {k}" for k in embeds) + " |",
                  "|---|---|" + "---|" * len(embeds)]
        for r in e["rows"]:
            cells = []
            for k in embeds:
                v = r["by_embed"].get(k) or r["by_embed"].get(str(k))
                cells.append("" if not v else f"{pct(v['ours_median'])} (n {v['n']}; published "
                             f"{pct(v['published_median_same_archs'])})")
            lines.append(f"| {r['protocol']} | {r['seed']} | " + " | ".join(cells) + " |")
        if e.get("published_median_by_embed_all"):
            lines.append("| published, all archs of the width | | " + " | ".join(
                pct(e["published_median_by_embed_all"].get(k) or e["published_median_by_embed_all"].get(str(k)))
                for k in embeds) + " |")
    left = [f"- {n}: {', '.join(map(str, what[:10]))}" + (" ..." if len(what) > 10 else "")
            for n, what in summary["left"].items()]
    if left:
        lines += ["", "## Left for the next run (run the same command again)", ""] + left
    return "\n".join(lines) + "\n"


# ---- main --------------------------------------------------------------------------------------

RUNNERS: Dict[str, Callable[[Check, float, Dict[str, Any]], Dict[str, Any]]] = {
    "cuda_tests": part_cuda_tests, "throughput": part_throughput, "build": part_build,
    "projection": part_projection, "protocol": part_protocol}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_check.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--out", type=Path, required=True, help="output folder (a second run resumes in it)")
    p.add_argument("--data-root", help="dataset folder holding indian_pines/ (default $HYTASBENCH_DATA or the cache)")
    p.add_argument("--reference", help="the authors' HyTAS repository files (results/, outputs/), for the "
                   "published OA")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--gpu", type=int, default=0, help="GPU index (default 0)")
    p.add_argument("--budget-s", type=float, default=480.0, help="overall time budget in seconds (default 480)")
    p.add_argument("--tiny", action="store_true", help="toy scale (a few architectures, one epoch): a dry run")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS),
                   help=f"protocols of the experiment: {', '.join(PROTOCOLS)}, or NAME:field=value,... "
                        "(TrainConfig protocol fields); default: %(default)s")
    p.add_argument("--workers", type=int, help="concurrent training processes of the protocol experiment "
                   "(default 8 on a GPU, 1 on CPU)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (default 1)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    args.workers = args.workers or (8 if args.device == "cuda" else 1)
    try:
        return run(args, argv if argv is not None else sys.argv[1:])
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, argv: List[str]) -> int:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise BuildError(f"--parts {bad}: allowed: {', '.join(PARTS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise BuildError("--device cuda, but torch sees no CUDA device; use --device cpu (with --tiny for a dry run)")
    resolve_protocols(args.protocols)  # a bad protocol fails before anything runs
    c = Check(args)
    torch.set_num_threads(args.threads)
    scale = dataclasses.asdict(c.scale)
    run_file = args.out / "run.json"
    if run_file.is_file():
        before = json.loads(run_file.read_text())
        if before.get("scale") != json.loads(json.dumps(scale)) or before.get("device") != args.device:
            raise BuildError(f"{args.out} holds a check of another scale or device ({before.get('device')}, "
                             f"{'tiny' if before.get('tiny') else 'full'}): use another --out")
    else:
        write_json(run_file, {"scale": scale, "device": args.device, "tiny": args.tiny})
    summary = {"command": "python benchmarks/gpu_check.py " + " ".join(argv), "device": c.device,
               "machine": bench_train.machine(torch.device(c.device)), "torch": torch.__version__, "tiny": args.tiny,
               "budget_s": args.budget_s, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(c.start))}
    results: Dict[str, Dict[str, Any]] = {}
    for name in PARTS:
        doc = c.load_part(name)
        if name not in parts or doc.get("status") == "complete":
            results[name] = dict(doc, run_seconds=0.0, reason=doc.get("reason") if doc else "not selected")
            if doc.get("status") == "complete":
                print(f"[{name}] finished in an earlier run", flush=True)
            continue
        limit = c.limit(name)
        if limit < MIN_PART_S:
            results[name] = dict(doc, status=doc.get("status", "not run"), run_seconds=0.0,
                                 reason="the time budget was spent before this part")
            continue
        print(f"[{name}] up to {limit:.0f} s", flush=True)
        t = time.perf_counter()
        try:
            doc = RUNNERS[name](c, limit, doc)
        except Exception as exc:  # one broken part must not cost the others their time
            doc = dict(doc, status="failed", reason=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            print(doc["traceback"], file=sys.stderr, flush=True)
        doc["run_seconds"] = time.perf_counter() - t
        doc["seconds_all_runs"] = doc.get("seconds_all_runs", 0.0) + doc["run_seconds"]
        c.save_part(name, doc)
        results[name] = doc
        print(f"[{name}] {doc['status']} in {doc['run_seconds']:.0f} s{': ' + doc['reason'] if doc.get('reason') else ''}",
              flush=True)
    summary["wall_s"] = time.time() - c.start
    summary["parts"] = {n: {k: results[n].get(k) for k in ("status", "reason", "run_seconds", "seconds_all_runs")}
                        for n in PARTS}
    summary["left"] = {n: results[n].get("left") or ["all"] for n in parts if results[n].get("status") != "complete"}
    write_json(args.out / "summary.json", summary)
    atomic_write_bytes(args.out / "summary.md", markdown(summary, results).encode())
    print(f"summary: {args.out / 'summary.md'}", flush=True)
    return 0 if all(results[n].get("status") == "complete" for n in parts) else 3


if __name__ == "__main__":
    raise SystemExit(main())
