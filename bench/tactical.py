"""Benchmark of the tactical conflict detector against an O(N²) reference measured in the same run.

Usage: ``python bench/tactical.py [--max-n N] [--repeat R]``

Seeded random traffic in a 1000 km square centred on 35° N 38° E: FL200–FL400, 200–500 kt, random
tracks, 20 % climbing or descending at 1000–3000 ft/min; en-route minima 5 NM / 1000 ft (ICAO Doc
4444 §8.7.3), 300 s look-ahead, every pair counted (``same_party=True``). The detector's time is
the best of ``--repeat`` runs after a warm-up (numba compilation excluded), on a ``TrackArrays``
record built beforehand, as the detection cycle builds one for its three detectors; building the
record (its checks, the ids' included) is timed in a column of its own. The reference tests
every pair row by row in numpy with the same semantics; it runs up to 10,000 aircraft.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from deconfliction.engine.tactical import SEPARATION_TOLERANCE_M, detect_conflicts
from deconfliction.model.track import TrackArrays

NM = 1852.0  # m
FT = 0.3048  # m
KT = NM / 3600.0  # m/s
FPM = FT / 60.0  # m/s
HORIZONTAL_M = 5 * NM  # en-route, ICAO Doc 4444 §8.7.3
VERTICAL_M = 1000 * FT
LOOK_AHEAD_S = 300.0
WGS84_A = 6378137.0  # m
WGS84_E2 = 6.69437999014e-3

REFERENCE_SIZES = (1_000, 2_000, 5_000, 10_000)
DETECTOR_ONLY_SIZES = (20_000, 50_000, 100_000)


def traffic(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Benchmark traffic: lat, lon, alt, gs, track, vs, party."""
    rng = np.random.default_rng(seed)
    north = rng.uniform(-500e3, 500e3, n)
    east = rng.uniform(-500e3, 500e3, n)
    lat = 35.0 + np.degrees(north / 6371e3)
    lon = 38.0 + np.degrees(east / (6371e3 * np.cos(np.radians(lat))))
    alt = rng.uniform(200, 400, n) * 100 * FT
    gs = rng.uniform(200, 500, n) * KT
    trk = rng.uniform(0, 360, n)
    vs = np.where(
        rng.random(n) < 0.2, rng.choice([-1.0, 1.0], n) * rng.uniform(1000, 3000, n) * FPM, 0.0
    )
    party = rng.integers(0, 4, n)
    return lat, lon, alt, gs, trk, vs, party


def reference_pairs(lat, lon, alt, gs, trk, vs) -> set[tuple[int, int]]:
    """Every pair losing separation within the look-ahead, tested row by row (O(N²))."""
    la, lo = np.radians(lat), np.radians(lon)
    n_rad = WGS84_A / np.sqrt(1 - WGS84_E2 * np.sin(la) ** 2)
    pos = np.stack(
        [
            n_rad * np.cos(la) * np.cos(lo),
            n_rad * np.cos(la) * np.sin(lo),
            n_rad * (1 - WGS84_E2) * np.sin(la),
        ],
        axis=1,
    )
    up = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)
    east = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], axis=1)
    north = np.cross(up, east)
    t = np.radians(trk)
    vel = gs[:, None] * (np.sin(t)[:, None] * east + np.cos(t)[:, None] * north)
    h_min = HORIZONTAL_M - SEPARATION_TOLERANCE_M
    v_min = VERTICAL_M - SEPARATION_TOLERANCE_M
    found: set[tuple[int, int]] = set()
    for i in range(lat.shape[0] - 1):
        j = np.arange(i + 1, lat.shape[0])
        m = up[i] + up[j]
        m /= np.linalg.norm(m, axis=1)[:, None]

        w = _rotated(vel[j], up[j], m) - _rotated(
            np.broadcast_to(vel[i], (j.size, 3)), np.broadcast_to(up[i], (j.size, 3)), m
        )
        c = pos[j] - pos[i]
        a = np.einsum("ij,ij->i", w, w)
        b = np.einsum("ij,ij->i", c, w)
        cc = np.einsum("ij,ij->i", c, c) - h_min**2
        disc = b * b - a * cc
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(np.maximum(disc, 0.0))
            h_lo = np.where(a > 0, (-b - root) / a, -np.inf)
            h_hi = np.where(a > 0, (-b + root) / a, np.inf)
            h_ok = np.where(a > 0, disc > 0, cc < 0)
            dz = alt[j] - alt[i]
            dvz = vs[j] - vs[i]
            s1 = (-v_min - dz) / dvz
            s2 = (v_min - dz) / dvz
            v_lo = np.where(dvz != 0, np.minimum(s1, s2), -np.inf)
            v_hi = np.where(dvz != 0, np.maximum(s1, s2), np.inf)
            v_ok = np.where(dvz != 0, True, np.abs(dz) < v_min)
        lo_ = np.maximum(h_lo, v_lo)
        hi_ = np.minimum(h_hi, v_hi)
        hit = h_ok & v_ok & (lo_ < hi_) & (lo_ < LOOK_AHEAD_S) & (hi_ > 0)
        found.update((i, int(k)) for k in j[hit])
    return found


def _rotated(v: np.ndarray, u: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows of v (orthogonal to u) rotated by the rotation taking u to m."""
    f = np.einsum("ij,ij->i", v, m) / (1 + np.einsum("ij,ij->i", u, m))
    return v - f[:, None] * (u + m)


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up (and JIT compilation or cache load)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"tactical detector, en-route {HORIZONTAL_M:.0f} m / {VERTICAL_M:.1f} m, look-ahead "
        f"{LOOK_AHEAD_S:.0f} s, 1000 km box, best of {args.repeat}"
    )
    header = (f"{'N':>8} {'record ms':>10} {'detector ms':>12} {'pairs':>9} {'reference s':>12} "
              f"{'ratio':>8}  agree")
    print(header)
    print("-" * len(header))
    for n in REFERENCE_SIZES + DETECTOR_ONLY_SIZES:
        if n > args.max_n:
            break
        data = traffic(n, seed=n)
        ids = [f"a{k}" for k in range(n)]

        def build(data=data, ids=ids):
            return TrackArrays(ids, *data, time_s=0.0)

        record = build()

        def run(record=record):
            return detect_conflicts(
                record,
                horizontal_m=HORIZONTAL_M,
                vertical_m=VERTICAL_M,
                look_ahead_s=LOOK_AHEAD_S,
                same_party=True,
            )

        t_record = best_time(build, args.repeat)
        t_det = best_time(run, args.repeat)
        enc = run()
        row = f"{n:>8} {t_record * 1e3:>10.2f} {t_det * 1e3:>12.1f} {len(enc):>9}"
        if n in REFERENCE_SIZES:
            t0 = time.perf_counter()
            ref = reference_pairs(*data[:6])
            t_ref = time.perf_counter() - t0
            same = ref == set(zip(enc.i.tolist(), enc.j.tolist(), strict=True))
            row += f" {t_ref:>12.2f} {t_ref / t_det:>8.0f}  {'yes' if same else 'NO'}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
