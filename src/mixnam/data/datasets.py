"""The paper's datasets: where each raw file comes from, how it is parsed, what it must contain.

A `DatasetSpec` is the single source of truth for a dataset's task, metric, split protocol, raw
files and content checks. `read(spec, ...)` returns the raw feature frame and target exactly as the
reference code builds them (column names included); splitting and preprocessing happen later.
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from mixnam.data.cache import cache_key, cached
from mixnam.data.sources import RawFile, Source, check_text_file, fetch, sha256_of
from mixnam.errors import DataError

Reader = Callable[[dict[str, Path]], tuple[pd.DataFrame, np.ndarray]]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    task: str  # regression | classification
    metric: str  # rmse | mse | auc
    protocol: str  # holdout (Housing) | tail (Year) | cv (5 folds) | generated
    files: tuple[RawFile, ...]
    reader: Reader
    n_rows: int | None  # canonical row count (content check)
    n_features: int
    positives: int | None = None  # canonical count of label 1 (content check)
    test_rows: int | None = None  # tail protocol: the last rows are the test set
    credentialed: str | None = None  # how to obtain files that cannot be downloaded
    fold_dir_hint: str = ""  # where NODE-GAM's fold files go
    generator: Callable[..., tuple[pd.DataFrame, np.ndarray]] | None = None
    options: dict = field(default_factory=dict)
    # A dataset whose task and protocol are the user's (dataset=csv): options -> the concrete spec.
    configure: Callable[[dict], "DatasetSpec"] | None = None


# --------------------------------------------------------------------------------------------- readers
HOUSING_FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
INCOME_COLUMNS = [
    "Age", "WorkClass", "fnlwgt", "Education", "EducationNum", "MaritalStatus", "Occupation",
    "Relationship", "Race", "Gender", "CapitalGain", "CapitalLoss", "HoursPerWeek", "NativeCountry",
]
MIMIC2_COLUMNS = [
    "Age", "GCS", "SBP", "HR", "Temperature", "PFratio", "Renal", "Urea", "WBC", "CO2", "Na", "K",
    "Bilirubin", "AdmissionType", "AIDS", "MetastaticCancer", "Lymphoma",
]
MIMIC2_CATEGORICAL = ["GCS", "Temperature", "AdmissionType", "AIDS", "MetastaticCancer", "Lymphoma", "Renal"]
MIMIC3_FEATURES = [
    "age", "first_hosp_stay", "first_icu_stay", "adult_icu", "eth_asian", "eth_black", "eth_hispanic",
    "eth_other", "eth_white", "admType_ELECTIVE", "admType_EMERGENCY", "admType_NEWBORN", "admType_URGENT",
    "heartrate_min", "heartrate_max", "heartrate_mean", "sysbp_min", "sysbp_max", "sysbp_mean",
    "diasbp_min", "diasbp_max", "diasbp_mean", "meanbp_min", "meanbp_max", "meanbp_mean",
    "resprate_min", "resprate_max", "resprate_mean", "tempc_min", "tempc_max", "tempc_mean",
    "spo2_min", "spo2_max", "spo2_mean", "glucose_min", "glucose_max", "glucose_mean", "aniongap",
    "albumin", "bicarbonate", "bilirubin", "creatinine", "chloride", "glucose", "hematocrit",
    "hemoglobin", "lactate", "magnesium", "phosphate", "platelet", "potassium", "ptt", "inr", "pt",
    "sodium", "bun", "wbc",
]


def _require_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        delimiter = " (one column only: is it separated by another delimiter than ','?)" if frame.shape[1] == 1 else ""
        raise DataError(f"{path} lacks the columns {missing[:10]}{'...' if len(missing) > 10 else ''} (it has "
                        f"{list(frame.columns)[:10]}{'...' if frame.shape[1] > 10 else ''}){delimiter}")


def _read_headerless(path: Path, n_columns: int, **kwargs) -> pd.DataFrame:
    frame = pd.read_csv(path, header=None, **kwargs)
    if frame.shape[1] != n_columns:
        sep = {None: "','", r"\s+": "whitespace"}.get(kwargs.get("sep"), repr(kwargs.get("sep")))
        raise DataError(f"{path} has {frame.shape[1]} column(s), expected {n_columns} separated by {sep}; it is "
                        "truncated, corrupt, uses another delimiter, or is not the canonical file")
    return frame


def read_housing(paths: dict[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """sklearn's fetch_california_housing features, derived from the StatLib cal_housing.data."""
    raw = _read_headerless(paths["cal_housing.data"], 9).to_numpy(dtype=np.float64)
    lon, lat, age, rooms, bedrooms, population, households, income, value = raw.T
    X = pd.DataFrame(
        {
            "MedInc": income, "HouseAge": age, "AveRooms": rooms / households,
            "AveBedrms": bedrooms / households, "Population": population,
            "AveOccup": population / households, "Latitude": lat, "Longitude": lon,
        }
    )
    return X, value / 1e5


def read_income(paths: dict[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    frame = _read_headerless(paths["adult.data"], 15, skipinitialspace=True)
    frame.columns = INCOME_COLUMNS + ["Income"]
    labels = frame.pop("Income").astype(str).str.rstrip(".")
    unknown = sorted(set(labels) - {">50K", "<=50K"})
    if unknown:
        raise DataError(f"{paths['adult.data']} has unexpected labels {unknown[:5]}; expected '>50K' / '<=50K'.")
    return frame, (labels == ">50K").to_numpy(dtype=np.int64)


def read_credit(paths: dict[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    path = paths["creditcard.csv"]
    frame = pd.read_csv(path)
    _require_columns(frame, ["Time", *[f"V{i}" for i in range(1, 29)], "Amount", "Class"], path)
    return frame.drop(columns="Class"), frame["Class"].to_numpy(dtype=np.int64)


def read_year(paths: dict[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    frame = _read_headerless(paths["YearPredictionMSD.txt"], 91)
    X = frame.iloc[:, 1:].astype(np.float64)
    X.columns = [f"timbre_avg_{i}" if i < 12 else f"timbre_cov_{i - 12}" for i in range(90)]
    return X, frame.iloc[:, 0].to_numpy(dtype=np.float64)


def read_mimic2(paths: dict[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    frame = _read_headerless(paths["mimic2.data"], 18, sep=r"\s+")
    frame.columns = MIMIC2_COLUMNS + ["HospitalMortality"]
    y = frame.pop("HospitalMortality").to_numpy(dtype=np.int64)
    for column in MIMIC2_CATEGORICAL:  # NODE-GAM treats these coded columns as categorical
        frame[column] = frame[column].astype(str)
    return frame, y


def read_mimic3(paths: dict[str, Path]) -> tuple[pd.DataFrame, np.ndarray]:
    path = paths["adult_icu.gz"]
    frame = pd.read_csv(path, compression="gzip")
    _require_columns(frame, MIMIC3_FEATURES + ["mort_icu"], path)
    return frame[MIMIC3_FEATURES].astype(np.float64), frame["mort_icu"].to_numpy(dtype=np.int64)


# ------------------------------------------------------------------------------------------- registry
MIMIC_ACCESS = (
    "MIMIC data are credentialed (PhysioNet) and cannot be downloaded automatically. Obtain access "
    "at https://physionet.org/ (create an account, complete the CITI 'Data or Specimens Only Research' "
    "training, sign the data use agreement for {db}), build the processed file used by NODE-GAM "
    "(Chang et al., 2022; github.com/zzzace2000/nodegam, `fetch_{fetch}`) and put {files} into "
    "{where}/ (the data cache, or <MIXNAM_DATA_MIRROR>/{name}/). NODE-GAM's fold files "
    "train0..4.txt / test0..4.txt may go beside it."
)

DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    DATASETS[spec.name] = spec
    return spec


register(DatasetSpec(
    name="housing", task="regression", metric="rmse", protocol="holdout",
    files=(RawFile(
        "cal_housing.data", "a2b44dcc7e1c9091b43c4f458b25cbd1f7e8068d08edd26bc4703108d3fa6214",
        (Source("cal_housing.tgz", "tar:CaliforniaHousing/cal_housing.data"),
         Source("https://ndownloader.figshare.com/files/5976036", "tar:CaliforniaHousing/cal_housing.data")),
    ),),
    reader=read_housing, n_rows=20640, n_features=8,
))
register(DatasetSpec(
    name="income", task="classification", metric="auc", protocol="cv",
    files=(RawFile(
        "adult.data", "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
        (Source("adult.data"),
         Source("https://archive.ics.uci.edu/ml/machine-learning-databases/adult/adult.data")),
    ),),
    reader=read_income, n_rows=32561, n_features=14, positives=7841,
))
register(DatasetSpec(
    name="credit", task="classification", metric="auc", protocol="cv",
    files=(RawFile(
        "creditcard.csv", "76274b691b16a6c49d3f159c883398e03ccd6d1ee12d9d8ee38f4b4b98551a89",
        (Source("creditcard.csv"), Source("creditcard.csv.xz", "xz"),
         Source("https://storage.googleapis.com/download.tensorflow.org/data/creditcard.csv")),
    ),),
    reader=read_credit, n_rows=284807, n_features=30, positives=492,
))
register(DatasetSpec(
    name="year", task="regression", metric="mse", protocol="tail",
    files=(RawFile(
        "YearPredictionMSD.txt", None,  # no published hash: the row/column check guards it
        (Source("YearPredictionMSD.txt"), Source("YearPredictionMSD.txt.zip", "zip:YearPredictionMSD.txt"),
         Source("https://archive.ics.uci.edu/ml/machine-learning-databases/00203/YearPredictionMSD.txt.zip",
                "zip:YearPredictionMSD.txt")),
    ),),
    reader=read_year, n_rows=515345, n_features=90, test_rows=51630,
))
register(DatasetSpec(
    name="mimic2", task="classification", metric="auc", protocol="cv",
    files=(RawFile("mimic2.data", None, (Source("mimic2.data"),)),),
    reader=read_mimic2, n_rows=24508, n_features=17,
    credentialed=MIMIC_ACCESS.format(db="MIMIC-II", fetch="MIMIC2", files="`mimic2.data` (space separated, "
                                     "no header, 17 features + HospitalMortality)", where="{where}", name="mimic2"),
))
register(DatasetSpec(
    name="mimic3", task="classification", metric="auc", protocol="cv",
    files=(RawFile("adult_icu.gz", None, (Source("adult_icu.gz"),)),),
    reader=read_mimic3, n_rows=27348, n_features=57,
    credentialed=MIMIC_ACCESS.format(db="MIMIC-III v1.4", fetch="MIMIC3", files="`adult_icu.gz` (gzip CSV with "
                                     "the 57 NODE-GAM feature columns + mort_icu)", where="{where}", name="mimic3"),
))


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataError(f"unknown dataset {name!r}.{hint} Valid datasets: {', '.join(sorted(DATASETS))}.")
    return DATASETS[name]


def raw_paths(spec: DatasetSpec, data_dir: str | Path, mirror: str | None) -> dict[str, Path]:
    """The verified cache copies of a file-backed dataset's raw files, fetched where absent."""
    paths = {}
    for raw in spec.files:
        if spec.credentialed and not _available(raw, spec.name, data_dir, mirror):
            where = Path(data_dir) / spec.name
            raise DataError(f"{spec.name}: {raw.name} not found. " + spec.credentialed.format(where=where))
        paths[raw.name] = fetch(raw, spec.name, data_dir, mirror)
    return paths


def raw_content(paths: dict[str, Path]) -> dict[str, str]:
    """sha256 of each raw file: what a cached parse or split of them is keyed by."""
    return {name: sha256_of(path) for name, path in paths.items()}


def read(spec: DatasetSpec, data_dir: str | Path, mirror: str | None, verify_rows: bool = True,
         seed: int = 0, options: dict | None = None, cache_dir: str | Path | None = None
         ) -> tuple[pd.DataFrame, np.ndarray]:
    """Fetch (or generate) the dataset and return its raw features and target, content-checked.

    `options` (from `conf/dataset/<name>.yaml`, key `options`) override a generated dataset's defaults.
    With a `cache_dir`, a file's parse is kept there under the file's sha256 (`mixnam.data.cache`).
    """
    if spec.generator is not None:
        unknown = sorted(set(options or {}) - set(inspect.signature(spec.generator).parameters) - {"seed"})
        if unknown:
            raise DataError(f"{spec.name} has no option(s) {unknown}; its options are {sorted(spec.options)} "
                            f"(set them as dataset.options.<name>=...).")
        return spec.generator(seed=seed, **{**spec.options, **(options or {})})
    if options:
        raise DataError(f"{spec.name} is read from files and takes no options (got {sorted(options)}).")
    paths = raw_paths(spec, data_dir, mirror)
    try:
        for path in paths.values():
            check_text_file(path, f"the {spec.name} data table")
        key = cache_key(dataset=spec.name, files=raw_content(paths))
        X, y = cached(cache_dir, f"{spec.name}-raw", key, lambda: spec.reader(paths))
        check_content(spec, X, y, verify_rows, where=", ".join(map(str, paths.values())))
    except DataError as error:
        raise DataError(f"{str(error).rstrip('.')}. {how_to_obtain(spec, data_dir)}") from None
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as error:  # pandas' ParserError is a ValueError
        files = ", ".join(map(str, paths.values()))
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise DataError(f"{files} could not be read as the {spec.name} data table ({type(error).__name__}: "
                        f"{first_line}). {how_to_obtain(spec, data_dir)}") from None
    return X, y


def how_to_obtain(spec: DatasetSpec, data_dir: str | Path) -> str:
    """The fix for a bad raw file: where the right one comes from."""
    where = Path(data_dir) / spec.name
    if spec.credentialed:
        return "Replace it with the right file. " + spec.credentialed.format(where=where)
    urls = [s.location for raw in spec.files for s in raw.sources if s.is_url]
    return (f"Delete it (from {where}/ or the mirror it came from) and rerun: the canonical file is fetched again "
            f"from MIXNAM_DATA_MIRROR or {urls[0] if urls else 'its public URL'}.")


def _available(raw: RawFile, dataset: str, data_dir: str | Path, mirror: str | None) -> bool:
    places = [Path(data_dir) / dataset / raw.name]
    if mirror and not mirror.startswith(("http://", "https://", "file://")):
        places += [Path(mirror) / dataset / s.location for s in raw.sources]
    return any(p.is_file() for p in places)


def check_content(spec: DatasetSpec, X: pd.DataFrame, y: np.ndarray, verify_rows: bool = True,
                  where: str | None = None) -> None:
    """Reject a file whose shape or label balance differs from the canonical one."""
    where = where or f"the {spec.name} raw file"
    if X.shape[1] != spec.n_features:
        raise DataError(f"{where} gives {X.shape[1]} features, expected {spec.n_features}.")
    if verify_rows and spec.n_rows is not None and len(X) != spec.n_rows:
        raise DataError(
            f"{where} has {len(X):,} rows, expected {spec.n_rows:,}: it is truncated or not the canonical "
            "file. Delete it from the cache and fetch it again."
        )
    if verify_rows and spec.positives is not None and int(np.sum(y)) != spec.positives:
        raise DataError(f"{where} has {int(np.sum(y)):,} positive labels, expected {spec.positives:,}.")
    if spec.task == "classification" and not set(np.unique(y)) <= {0, 1}:
        raise DataError(f"{where} has labels {np.unique(y)[:5]}, expected 0/1.")
