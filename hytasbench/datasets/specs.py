"""Dataset registry: names, aliases, files, checksums, class names and split rules. Torch-free.

Class indices are 0-based in the order of ``class_names``: the order of each dataset's standard
ground-truth file (for Indian Pines the EHU order; SpectralFormer's split maps use another order,
which ``split_label_map`` translates).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..errors import UnknownDatasetError

_EHU = "http://www.ehu.eus/ccwintco/uploads/"
_GCN = "https://raw.githubusercontent.com/danfenghong/IEEE_TGRS_GCN/d53879216c428270476edf0ac966671cdc796477/" \
       "DataGeneration_Functions/"
_S2FL = "https://raw.githubusercontent.com/danfenghong/ISPRS_S2FL/dfebaf48b18004cedaf506b97db31ae78f0ae3f2/"
_DFC2013 = ("needs registration: the 2013 IEEE GRSS Data Fusion Contest data "
            "(https://hyperspectral.ee.uh.edu/?page_id=459, or the IEEE GRSS Data and Algorithm Standard "
            "Evaluation site); take 2013_IEEE_GRSS_DF_Contest_CASI.tif from the contest archive")


@dataclass(frozen=True)
class DataFile:
    """One file a dataset needs. Verified by sha256 or, where only that is published, by the git
    blob id (SHA-1 of ``b'blob <size>\\0' + content``); a file with neither is checked by shape only."""

    name: str
    role: str  # "cube", "raw_cube", "gt", "train", "test"
    key: str = ""  # variable name inside a .mat file ("" for .tif)
    sha256: str = ""
    git_blob: str = ""
    size: int = 0
    url: str = ""
    where: str = ""  # how to obtain it when there is no public URL


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    shape: Tuple[int, int]
    bands: int
    num_classes: int
    band_patch: int
    aliases: Tuple[str, ...] = ()
    files: Tuple[DataFile, ...] = ()  # required files, plus at most one optional raw_cube alternative
    class_names: Tuple[str, ...] = ()
    raw_bands: int = 0  # band count of the uncorrected cube (0: no raw form)
    drop_bands: Tuple[int, ...] = ()  # 1-based bands removed from the raw cube
    split: str = "fixed"  # "fixed": train/test maps; "random": train_per_class pixels per class drawn, seeded
    train_per_class: Tuple[int, ...] = ()
    test_per_class: Tuple[int, ...] = ()
    split_label_map: Tuple[int, ...] = ()  # split-map label k (1-based) -> class index + 1; () = identity

    @property
    def train_count(self) -> int:
        return sum(self.train_per_class)

    @property
    def test_count(self) -> int:
        return sum(self.test_per_class)

    def file(self, role: str) -> Optional[DataFile]:
        return next((f for f in self.files if f.role == role), None)

    @property
    def required_files(self) -> Tuple[DataFile, ...]:
        return tuple(f for f in self.files if f.role != "raw_cube")


def _r(*ranges: Tuple[int, int]) -> Tuple[int, ...]:
    return tuple(b for lo, hi in ranges for b in range(lo, hi + 1))


def _minus(total: Tuple[int, ...], n: int) -> Tuple[int, ...]:
    return tuple(t - n for t in total)


_SALINAS_GT = (2009, 3726, 1976, 1394, 2678, 3959, 3579, 11271, 6203, 3278, 1068, 1927, 916, 1070, 7268, 1807)
_KSC_GT = (761, 243, 256, 252, 161, 229, 105, 431, 520, 404, 419, 503, 927)

DATASETS: Dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec(
        "indian_pines", "Indian Pines", (145, 145), 200, 16, 3,
        ("indian", "indianpines", "indian-pines", "ip", "in"),
        files=(
            DataFile("Indian_pines_corrected.mat", "cube", "indian_pines_corrected",
                     sha256="ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939",
                     git_blob="75b6d6e7df046fce91eda23e7559e274c92da711", size=5953527,
                     url=_EHU + "6/67/Indian_pines_corrected.mat"),
            DataFile("IndianTR123_temp123.tif", "train",
                     sha256="9f7cb2caea985577c11bbeea1086c9348aa067ab7e3825d2fa671508b4ae6684",
                     git_blob="b90edf83bb5dfa53400d309e915c87f9e45c697d", size=21248,
                     url=_GCN + "IndianTR123_temp123.tif"),
            DataFile("IndianTE123_temp123.tif", "test",
                     sha256="f7a8e34026ce97a4a21918441f7b03dba0718f63ff2619d1a35dcaa33da24ad3",
                     git_blob="6f6f78d8f1b2793d93ff2cc00862ca79199f8edd", size=21248,
                     url=_GCN + "IndianTE123_temp123.tif"),
            DataFile("Indian_pines.mat", "raw_cube", "indian_pines", url=_EHU + "2/22/Indian_pines.mat"),
        ),
        class_names=("Alfalfa", "Corn-notill", "Corn-mintill", "Corn", "Grass-pasture", "Grass-trees",
                     "Grass-pasture-mowed", "Hay-windrowed", "Oats", "Soybean-notill", "Soybean-mintill",
                     "Soybean-clean", "Wheat", "Woods", "Buildings-Grass-Trees-Drives", "Stone-Steel-Towers"),
        raw_bands=220, drop_bands=_r((104, 108), (150, 163), (220, 220)),
        train_per_class=(15, 50, 50, 50, 50, 50, 15, 50, 15, 50, 50, 50, 50, 50, 50, 50),
        test_per_class=(39, 1384, 784, 184, 447, 697, 11, 439, 5, 918, 2418, 564, 162, 1244, 330, 45),
        split_label_map=(2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16, 1, 7, 9)),
    DatasetSpec(
        "salinas", "Salinas", (512, 217), 204, 16, 3, ("sa", "salinas_corrected"),
        files=(
            DataFile("Salinas_corrected.mat", "cube", "salinas_corrected",
                     git_blob="2a745377a77369bd5a9d430c722f0bf5e0d0ffc1", url=_EHU + "a/a3/Salinas_corrected.mat"),
            DataFile("Salinas_gt.mat", "gt", "salinas_gt",
                     sha256="ecfab4d31ef5553f097943235d8ea502038eb4a2067b2ad10b33e37c949955e2",
                     git_blob="a0781d95c9fa20bb3c31751a0cf24b7dc09be65b", size=4277, url=_EHU + "f/fa/Salinas_gt.mat"),
            DataFile("Salinas.mat", "raw_cube", "salinas", url=_EHU + "f/f1/Salinas.mat"),
        ),
        class_names=("Brocoli_green_weeds_1", "Brocoli_green_weeds_2", "Fallow", "Fallow_rough_plow",
                     "Fallow_smooth", "Stubble", "Celery", "Grapes_untrained", "Soil_vinyard_develop",
                     "Corn_senesced_green_weeds", "Lettuce_romaine_4wk", "Lettuce_romaine_5wk",
                     "Lettuce_romaine_6wk", "Lettuce_romaine_7wk", "Vinyard_untrained", "Vinyard_vertical_trellis"),
        raw_bands=224, drop_bands=_r((108, 112), (154, 167), (224, 224)),
        split="random", train_per_class=(50,) * 16, test_per_class=_minus(_SALINAS_GT, 50)),
    DatasetSpec(
        "houston2013", "Houston 2013", (349, 1905), 144, 15, 3,
        ("houston", "houston13", "houston-2013", "hu", "dfc2013"),
        files=(
            DataFile("2013_IEEE_GRSS_DF_Contest_CASI.tif", "cube", where=_DFC2013),
            DataFile("2013_IEEE_GRSS_DF_Contest_Samples_TR.tif", "train",
                     sha256="c943016242f98a4c1e70fb35842562e654425de5364c58ceb5e1186029c193f7",
                     git_blob="a398acf165c3fd7b555437e0400c3ed3f71c97bb", size=13660,
                     url=_S2FL + "2013_IEEE_GRSS_DF_Contest_Samples_TR.tif"),
            DataFile("2013_IEEE_GRSS_DF_Contest_Samples_VA.tif", "test",
                     sha256="9fd0093af69a8f91cc0f3ef7c67dd7f961445223c0a2497bdbed03e7f329a010",
                     git_blob="0d96fc69760a4501eebba9082f43feff15c8f168", size=19098,
                     url=_S2FL + "2013_IEEE_GRSS_DF_Contest_Samples_VA.tif"),
        ),
        class_names=("Healthy grass", "Stressed grass", "Synthetic grass", "Trees", "Soil", "Water",
                     "Residential", "Commercial", "Road", "Highway", "Railway", "Parking Lot 1", "Parking Lot 2",
                     "Tennis Court", "Running Track"),
        train_per_class=(198, 190, 192, 188, 186, 182, 196, 191, 193, 191, 181, 192, 184, 181, 187),
        test_per_class=(1053, 1064, 505, 1056, 1056, 143, 1072, 1053, 1059, 1036, 1054, 1041, 285, 247, 473)),
    DatasetSpec(
        "paviau", "Pavia University", (610, 340), 103, 9, 7,
        ("pavia", "pavia_u", "pavia-u", "paviauniversity", "pavia_university", "pu", "up"),
        files=(
            DataFile("PaviaU.mat", "cube", "paviaU", git_blob="6eecc933bedec1130bb046483dd12e25cf091b24",
                     url=_EHU + "e/ee/PaviaU.mat"),
            DataFile("TRpaviaU.mat", "train", "TRpaviaU",
                     sha256="783bf32ee43172cb7cfe76ea381401af4b57dc1bd53ccdf49137976aa3ded77d",
                     git_blob="d0a4fe6dfd80a0d459a51c10450f67cd8e3a0075", size=2368, url=_GCN + "TRpaviaU.mat"),
            DataFile("TSpaviaU.mat", "test", "TSpaviaU",
                     sha256="bea2b7592e27456c187cf57ed0cbf8ffeb45294e811da7516cb0d9ce7f073173",
                     git_blob="fe93a202df71cf94848ce7c26e8c5b5199fc7849", size=11145, url=_GCN + "TSpaviaU.mat"),
        ),
        class_names=("Asphalt", "Meadows", "Gravel", "Trees", "Painted metal sheets", "Bare Soil", "Bitumen",
                     "Self-Blocking Bricks", "Shadows"),
        train_per_class=(548, 540, 392, 524, 265, 532, 375, 514, 231),
        test_per_class=(6304, 18146, 1815, 2912, 1113, 4572, 981, 3364, 795)),
    DatasetSpec(
        "ksc", "Kennedy Space Center", (512, 614), 176, 13, 1, ("kennedy", "kennedy_space_center"),
        files=(
            DataFile("KSC.mat", "cube", "KSC", git_blob="6cbb7742851216118ddeff9011482fff5aca3698",
                     url="http://www.ehu.es/ccwintco/uploads/2/26/KSC.mat"),
            DataFile("KSC_gt.mat", "gt", "KSC_gt",
                     sha256="a1d6ab9293691006bd4d9742d1a1e1c141b1aaa5fbc5fa128b33c1d09038510b",
                     git_blob="8efeec7529b8789152aecf4d3a8197e94daeb363", size=3240,
                     url="http://www.ehu.es/ccwintco/uploads/a/a6/KSC_gt.mat"),
        ),
        class_names=("Scrub", "Willow swamp", "Cabbage palm hammock", "Cabbage palm/oak hammock", "Slash pine",
                     "Oak/broadleaf hammock", "Hardwood swamp", "Graminoid marsh", "Spartina marsh",
                     "Cattail marsh", "Salt marsh", "Mud flats", "Water"),
        split="random", train_per_class=(25,) * 13, test_per_class=_minus(_KSC_GT, 25)),
)}

_LOOKUP: Dict[str, str] = {}
for _spec in DATASETS.values():
    for _key in (_spec.name,) + _spec.aliases:
        _LOOKUP[_key] = _spec.name


def canonical_name(name: object) -> str:
    """Map a dataset name or alias (case-insensitive) to its canonical id, or raise."""
    if isinstance(name, str):
        key = name.strip().lower().replace(" ", "_")
        if key in _LOOKUP:
            return _LOOKUP[key]
    raise UnknownDatasetError(name, [f"{s.name} (or {', '.join(s.aliases[:2])})" for s in DATASETS.values()])


def get_spec(name: object) -> DatasetSpec:
    return DATASETS[canonical_name(name)]
