"""Datasets: the real Indian Pines, the real label maps of all five, splits, samples, files, errors."""
from __future__ import annotations

import dataclasses
import functools
import http.server
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from hytasbench.datasets import DATASETS, get_spec
from hytasbench.datasets.files import ENV_DATA, data_root, digests, fetch, locate
from hytasbench.datasets.load import load_dataset, load_labels, random_split, read_tiff, scale_bands, split_maps
from hytasbench.datasets.samples import PatchSampler, sampler_for
from hytasbench.datasets.synthetic import synthetic_cube, synthetic_dataset
from hytasbench.errors import (DatasetFilesError, DatasetFormatError, DownloadError, InvalidArgumentError,
                               UnknownDatasetError)

# Split sizes as published (HyTAS paper / SpectralFormer), written out independently of the specs.
SPLITS = {"indian_pines": (695, 9671), "salinas": (800, 53329), "houston2013": (2832, 12197),
          "paviau": (3921, 40002), "ksc": (325, 4886)}
SAMPLE_SHAPES = {"indian_pines": (200, 147), "salinas": (204, 147), "houston2013": (144, 147),
                 "paviau": (103, 343), "ksc": (176, 49)}
# Indian Pines in EHU class order (Alfalfa first): 15 training pixels for Alfalfa, Grass-pasture-mowed, Oats.
IP_TRAIN = [15, 50, 50, 50, 50, 50, 15, 50, 15, 50, 50, 50, 50, 50, 50, 50]
IP_TEST = [39, 1384, 784, 184, 447, 697, 11, 439, 5, 918, 2418, 564, 162, 1244, 330, 45]


@pytest.fixture(scope="module")
def indian(shared_datasets):
    return load_dataset("indian_pines", shared_datasets)


def test_indian_pines_real(indian, shared_datasets):
    assert indian.cube.shape == (145, 145, 200) and indian.cube.dtype == np.float32
    assert indian.cube.min() == 0.0 and indian.cube.max() == 1.0
    assert np.allclose(indian.cube.min(axis=(0, 1)), 0) and np.allclose(indian.cube.max(axis=(0, 1)), 1)
    assert (len(indian.train_labels), len(indian.test_labels)) == SPLITS["indian_pines"]
    assert np.bincount(indian.train_labels).tolist() == IP_TRAIN
    assert np.bincount(indian.test_labels).tolist() == IP_TEST
    assert indian.class_names[0] == "Alfalfa" and indian.class_names[15] == "Stone-Steel-Towers"
    # class order: split labels remapped to the EHU ground truth wherever that labels the pixel
    gt = scipy.io.loadmat(shared_datasets / "indian_pines" / "Indian_pines_gt.mat")["indian_pines_gt"]
    for rc, y, off_gt in ((indian.train_rc, indian.train_labels, 26), (indian.test_rc, indian.test_labels, 230)):
        g = gt[rc[:, 0], rc[:, 1]].astype(int)
        assert np.array_equal(g[g > 0] - 1, y[g > 0])
        assert (g == 0).sum() == off_gt  # drawn from Purdue's own ground truth (SOURCE.txt)
    # the scaling is per band over the whole image: compare one band with the raw values
    raw = scipy.io.loadmat(shared_datasets / "indian_pines" / "Indian_pines_corrected.mat")["indian_pines_corrected"]
    band = raw[:, :, 17].astype(np.float64)
    assert np.allclose(indian.cube[:, :, 17], (band - band.min()) / (band.max() - band.min()), atol=1e-6)
    assert indian.files["Indian_pines_corrected.mat"] == get_spec("ip").file("cube").sha256
    assert indian.split_seed is None and not indian.synthetic


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_split_counts_from_real_label_maps(name, shared_datasets):
    spec = get_spec(name)
    train, test, seed = split_maps(spec, load_labels(name, shared_datasets), seed=None)
    assert ((train > 0).sum(), (test > 0).sum()) == SPLITS[name]
    assert not ((train > 0) & (test > 0)).any()
    assert np.bincount(train[train > 0] - 1, minlength=spec.num_classes).tolist() == list(spec.train_per_class)
    assert np.bincount(test[test > 0] - 1, minlength=spec.num_classes).tolist() == list(spec.test_per_class)
    assert len(spec.class_names) == spec.num_classes
    assert seed == (0 if spec.split == "random" else None)


@pytest.mark.parametrize("name, per_class", [("salinas", 50), ("ksc", 25)])
def test_random_splits_are_seeded(name, per_class, shared_datasets):
    gt = load_labels(name, shared_datasets).gt
    spec = get_spec(name)
    a_train, a_test = random_split(gt, spec.train_per_class, seed=3)
    b_train, _ = random_split(gt, spec.train_per_class, seed=3)
    c_train, _ = random_split(gt, spec.train_per_class, seed=4)
    assert np.array_equal(a_train, b_train)
    assert not np.array_equal(a_train, c_train)
    assert (np.bincount(a_train.ravel())[1:] == per_class).all()
    assert np.array_equal(np.where(a_train > 0, a_train, a_test), gt)  # train + test = ground truth
    with pytest.raises(DatasetFormatError, match="fewer than"):
        random_split(gt, (10 ** 6,) * spec.num_classes, seed=0)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_sample_shapes(name, shared_datasets):
    """Shapes per dataset, on a synthetic cube over a crop of the real label map (full cubes are slow here)."""
    spec = get_spec(name)
    labels = load_labels(name, shared_datasets)
    full = labels.gt if labels.gt is not None else labels.train + labels.test
    cube = synthetic_cube(full[:60, :50], spec.num_classes, spec.bands)
    assert cube.shape == (60, 50, spec.bands) and 0.0 <= cube.min() and cube.max() <= 1.0
    sampler = PatchSampler(cube, spec.band_patch)
    assert sampler(torch.tensor([[0, 0], [59, 49], [30, 20]])).shape == (3,) + SAMPLE_SHAPES[name]


@pytest.fixture(scope="module")
def synthetic_pavia(shared_datasets):
    return synthetic_dataset("paviau", shared_datasets)


def test_synthetic_dataset_full_size(synthetic_pavia):
    d = synthetic_pavia
    assert d.synthetic and d.cube.shape == (610, 340, 103) and d.cube.dtype == np.float32
    assert (len(d.train_labels), len(d.test_labels)) == SPLITS["paviau"]
    assert sampler_for(d)(torch.as_tensor(d.test_rc[-4:])).shape == (4,) + SAMPLE_SHAPES["paviau"]


def test_synthetic_classes_are_separable(synthetic_pavia):
    """Nearest class mean on the centre pixel's spectrum beats chance by far, but is not perfect."""
    d = synthetic_pavia
    x_tr = d.cube[d.train_rc[:, 0], d.train_rc[:, 1]]
    x_te = d.cube[d.test_rc[:, 0], d.test_rc[:, 1]]
    means = np.stack([x_tr[d.train_labels == c].mean(0) for c in range(d.num_classes)])
    pred = ((x_te[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    acc = (pred == d.test_labels).mean()
    assert 0.5 < acc < 1.0
    assert np.array_equal(synthetic_cube(np.ones((3, 3), int), 2, 5, seed=1), synthetic_cube(np.ones((3, 3), int), 2, 5, seed=1))


def _naive_sample(cube, r, c, band_patch):
    padded = np.pad(cube, ((3, 3), (3, 3), (0, 0)), mode="symmetric")
    window = padded[r:r + 7, c:c + 7]  # centred on (r + 3, c + 3) = the pixel
    bands = cube.shape[2]
    half = band_patch // 2
    return np.stack([np.concatenate([window[:, :, (b + k) % bands].ravel() for k in range(-half, half + 1)])
                     for b in range(bands)])


@pytest.mark.parametrize("band_patch", [1, 3, 7])
def test_sampler_matches_naive_construction(band_patch):
    cube = np.random.default_rng(0).random((9, 12, 8)).astype(np.float32)
    sampler = PatchSampler(cube, band_patch)
    rc = np.array([[0, 0], [8, 11], [4, 6], [1, 10], [2, 2]])
    out = sampler(torch.as_tensor(rc)).numpy()
    for n, (r, c) in enumerate(rc):
        assert np.array_equal(out[n], _naive_sample(cube, r, c, band_patch))
    # mirror padding repeats the edge: the corner pixel's window has the corner value at rows 2 and 3
    s = out[0, 0, (band_patch // 2) * 49:(band_patch // 2 + 1) * 49].reshape(7, 7)
    assert s[3, 3] == s[2, 2] == s[2, 3] == cube[0, 0, 0]
    assert len(list(sampler.batches(torch.as_tensor(rc), 2))) == 3


def test_sampler_errors():
    with pytest.raises(InvalidArgumentError, match="odd"):
        PatchSampler(np.zeros((5, 5, 4), np.float32), 2)
    with pytest.raises(InvalidArgumentError, match=r"\(H, W, bands\)"):
        PatchSampler(np.zeros((5, 5), np.float32), 1)
    with pytest.raises(InvalidArgumentError, match=r"\(N, 2\)"):
        PatchSampler(np.zeros((5, 5, 4), np.float32), 1)(torch.zeros(3, dtype=torch.long))


def test_scale_bands_constant_band():
    cube = np.stack([np.arange(6.0).reshape(2, 3), np.full((2, 3), 7.0)], axis=2)
    out = scale_bands(cube)
    assert out.dtype == np.float32 and out[:, :, 0].max() == 1.0 and (out[:, :, 1] == 0).all()
    assert cube[0, 0, 1] == 7.0  # input untouched


# ---- files: root, checksums, download, error paths -------------------------------------------------------

def _copy(shared: Path, tmp: Path, name: str, files) -> Path:
    (tmp / name).mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(shared / name / f, tmp / name / f)
    return tmp


def test_missing_files_are_listed_with_where_to_get_them(tmp_path):
    with pytest.raises(DatasetFilesError) as err:
        load_dataset("indian_pines", tmp_path)
    msg = str(err.value)
    for f in ("Indian_pines_corrected.mat", "IndianTR123_temp123.tif", "IndianTE123_temp123.tif"):
        assert str(tmp_path / "indian_pines" / f) in msg
    assert "http://www.ehu.eus/ccwintco/uploads/6/67/Indian_pines_corrected.mat" in msg
    assert ENV_DATA in msg and "download=True" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_houston_cube_needs_registration(tmp_path, shared_datasets):
    root = _copy(shared_datasets, tmp_path, "houston2013", ["2013_IEEE_GRSS_DF_Contest_Samples_TR.tif",
                                                            "2013_IEEE_GRSS_DF_Contest_Samples_VA.tif"])
    with pytest.raises(DatasetFilesError) as err:
        load_dataset("houston", root)
    msg = str(err.value)
    assert str(root / "houston2013" / "2013_IEEE_GRSS_DF_Contest_CASI.tif") in msg
    assert "registration" in msg and "Samples_TR" not in msg  # only the missing file is listed


def test_wrong_checksum(tmp_path, shared_datasets):
    root = _copy(shared_datasets, tmp_path, "paviau", ["TRpaviaU.mat", "TSpaviaU.mat"])
    path = root / "paviau" / "TSpaviaU.mat"
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01  # inside the MAT header's descriptive text: same content, other checksum
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetFilesError, match="wrong checksum") as err:
        load_labels("paviau", root)
    assert "TSpaviaU.mat: sha256 is" in str(err.value)
    load_labels("paviau", root, verify=False)  # the content is still a valid label map


def _write_mat(path: Path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), arrays)


def test_wrong_key_shape_and_labels(tmp_path):
    gt = tmp_path / "ksc" / "KSC_gt.mat"
    _write_mat(gt, wrong=np.zeros((512, 614), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"no variable 'KSC_gt'; found \['wrong'\]"):
        load_labels("ksc", tmp_path, verify=False)
    _write_mat(gt, KSC_gt=np.zeros((512, 600), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"shape \(512, 600\), expected \(512, 614\)"):
        load_labels("ksc", tmp_path, verify=False)
    bad = np.zeros((512, 614), np.uint8)
    bad[0, 0] = 14
    _write_mat(gt, KSC_gt=bad)
    with pytest.raises(DatasetFormatError, match="0 \\(unlabelled\\) to 13"):
        load_labels("ksc", tmp_path, verify=False)
    gt.write_bytes(b"not a mat file at all")
    with pytest.raises(DatasetFormatError, match="MATLAB"):
        load_labels("ksc", tmp_path, verify=False)


def test_overlapping_train_and_test(tmp_path):
    m = np.zeros((610, 340), np.uint8)
    m[5, 5] = 3
    _write_mat(tmp_path / "paviau" / "TRpaviaU.mat", TRpaviaU=m)
    _write_mat(tmp_path / "paviau" / "TSpaviaU.mat", TSpaviaU=m)
    with pytest.raises(DatasetFormatError, match="1 pixels are in both"):
        load_labels("paviau", tmp_path, verify=False)


def test_raw_cube_bands_are_removed_and_wrong_cubes_rejected(tmp_path, shared_datasets, indian):
    root = _copy(shared_datasets, tmp_path, "indian_pines", ["IndianTR123_temp123.tif", "IndianTE123_temp123.tif"])
    corrected = scipy.io.loadmat(shared_datasets / "indian_pines" / "Indian_pines_corrected.mat")["indian_pines_corrected"]
    dropped = [b - 1 for b in list(range(104, 109)) + list(range(150, 164)) + [220]]  # 1-based 104-108, 150-163, 220
    raw = np.zeros((145, 145, 220), np.uint16)
    raw[:, :, np.setdiff1d(np.arange(220), dropped)] = corrected
    raw[:, :, dropped] = 60000  # would change nothing else, but must be gone
    _write_mat(root / "indian_pines" / "Indian_pines.mat", indian_pines=raw)
    data = load_dataset("indian_pines", root)
    assert np.array_equal(data.cube, indian.cube)
    assert "Indian_pines.mat" in data.files
    _write_mat(root / "indian_pines" / "Indian_pines.mat", indian_pines=raw[:, :, :150])
    with pytest.raises(DatasetFormatError, match="150 bands, expected 200 \\(or 220 before band removal\\)"):
        load_dataset("indian_pines", root)
    _write_mat(root / "indian_pines" / "Indian_pines.mat", indian_pines=raw[:100])
    with pytest.raises(DatasetFormatError, match="cube has shape"):
        load_dataset("indian_pines", root)


def test_unknown_dataset():
    with pytest.raises(UnknownDatasetError, match="indian_pines"):
        load_dataset("mnist")


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DATA, str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv(ENV_DATA)
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "datasets"


@pytest.fixture
def http_server(shared_datasets):
    """A real local HTTP server over the shared dataset folder."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shared_datasets))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_checksums(tmp_path, http_server):
    spec = get_spec("paviau")
    local = dataclasses.replace(spec, files=tuple(
        dataclasses.replace(f, url=http_server + "paviau/" + f.name) for f in spec.files if f.role != "cube"))
    paths = locate(local, tmp_path, ("train", "test"), download=True)
    assert digests(paths["train"])["sha256"] == spec.file("train").sha256
    bad = dataclasses.replace(spec.file("test"), url=http_server + "paviau/TRpaviaU.mat")  # wrong content
    with pytest.raises(DownloadError, match="sha256"):
        fetch(bad, tmp_path / "x" / "TSpaviaU.mat")
    assert not (tmp_path / "x" / "TSpaviaU.mat").exists() and not list((tmp_path / "x").glob("*.part"))
    with pytest.raises(DownloadError, match="404"):
        fetch(dataclasses.replace(bad, url=http_server + "nope.mat"), tmp_path / "y.mat")


# ---- TIFF reader ---------------------------------------------------------------------------------------

def _tiff(arr: np.ndarray, order: str = "<", planar: int = 1, compression: int = 1, rows_per_strip: int = 2) -> bytes:
    """A baseline TIFF written by hand (independent of the reader)."""
    h, w = arr.shape[:2]
    spp = 1 if arr.ndim == 2 else arr.shape[2]
    a = arr.reshape(h, w, spp).astype(arr.dtype.newbyteorder(order))
    planes = [a[:, :, p] for p in range(spp)] if planar == 2 else [a]
    strips = [np.ascontiguousarray(pl[r:r + rows_per_strip]).tobytes() for pl in planes for r in range(0, h, rows_per_strip)]
    if compression == 8:
        strips = [zlib.compress(s) for s in strips]
    fmt = {"u": 1, "i": 2, "f": 3}[a.dtype.kind]
    data = b"".join(strips)
    offsets, pos = [], 8
    for s in strips:
        offsets.append(pos)
        pos += len(s)
    arrays_at = pos
    tags = [(256, 4, [w]), (257, 4, [h]), (258, 3, [a.dtype.itemsize * 8] * spp), (259, 3, [compression]),
            (262, 3, [1]), (273, 4, offsets), (277, 3, [spp]), (278, 4, [rows_per_strip]),
            (279, 4, [len(s) for s in strips]), (284, 3, [planar]), (339, 3, [fmt] * spp)]
    extra, entries = b"", []
    for tag, typ, vals in tags:
        code = "H" if typ == 3 else "I"
        payload = struct.pack(order + code * len(vals), *vals)
        if len(payload) <= 4:
            entries.append(struct.pack(order + "HHI", tag, typ, len(vals)) + payload.ljust(4, b"\0"))
        else:
            entries.append(struct.pack(order + "HHII", tag, typ, len(vals), arrays_at + len(extra)))
            extra += payload
    ifd_at = arrays_at + len(extra)
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, ifd_at)
    return head + data + extra + struct.pack(order + "H", len(entries)) + b"".join(entries) + b"\0\0\0\0"


@pytest.mark.parametrize("dtype, order, planar, compression", [
    (np.uint8, "<", 1, 1), (np.uint16, ">", 1, 1), (np.uint16, "<", 2, 1), (np.float32, "<", 2, 8),
    (np.int16, ">", 1, 8)])
def test_tiff_reader(tmp_path, dtype, order, planar, compression):
    arr = (np.random.default_rng(0).random((5, 7, 4)) * 100).astype(dtype)
    path = tmp_path / "x.tif"
    path.write_bytes(_tiff(arr, order, planar, compression))
    out = read_tiff(path)
    assert out.dtype == np.dtype(dtype) and np.array_equal(out, arr)
    path.write_bytes(_tiff(arr[:, :, 0], order, planar, compression))
    assert np.array_equal(read_tiff(path), arr[:, :, 0])


def test_tiff_reader_packbits_and_errors(tmp_path, shared_datasets):
    tr = read_tiff(shared_datasets / "houston2013" / "2013_IEEE_GRSS_DF_Contest_Samples_TR.tif")  # PackBits
    assert tr.shape == (349, 1905) and (tr > 0).sum() == 2832
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"GIF89a" + b"\0" * 20)
    with pytest.raises(DatasetFormatError, match="bad.tif.*not a readable TIFF"):
        read_tiff(bad)
    bad.write_bytes(_tiff(np.zeros((4, 4), np.uint8), compression=60000))
    with pytest.raises(DatasetFormatError, match="60000"):
        read_tiff(bad)
    data = _tiff(np.zeros((4, 4), np.uint16))
    bad.write_bytes(data[:12] + data[12 + 32:])  # strips cut short (offsets now point past the data)
    with pytest.raises(DatasetFormatError):
        read_tiff(bad)


def test_dataset_modules_are_torch_free():
    code = ("import sys, hytasbench.datasets, hytasbench.datasets.load, hytasbench.datasets.synthetic; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_datasets_cli_reports_files(shared_datasets, tmp_path, capsys):
    from hytasbench.datasets.__main__ import main as datasets_main

    assert datasets_main(["--root", str(shared_datasets), "ip"]) == 0
    out = capsys.readouterr().out
    assert out.count("[ok]") == 3 and "[optional, absent]" in out
    assert datasets_main(["--root", str(tmp_path), "houston"]) == 1
    out = capsys.readouterr().out
    assert out.count("[MISSING]") == 3 and "registration" in out
