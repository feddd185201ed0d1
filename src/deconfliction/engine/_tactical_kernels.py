"""Compiled kernels of the tactical conflict detector (see ``tactical.py`` for the semantics).

Private to :mod:`deconfliction.engine.tactical`. Every kernel is pure (arrays in, arrays out),
compiled with ``nogil=True`` so that the caller can run one look-ahead time slice per thread, and
``cache=True`` so that the JIT cost is paid once per installation.

Conventions shared by the kernels
---------------------------------
``state``: (N, 12) float64, one row per aircraft, in a Cartesian frame centred on the Earth
(ECEF, possibly rotated — every quantity here is rotation-invariant): columns 0–2 sea-level WGS-84
position (m), 3–5 velocity (m/s, tangent to the ellipsoid), 6–8 geodetic unit normal, 9 altitude
(m), 10 vertical rate (m/s), 11 ground speed (m/s). ``t_edges``: (K + 1,) slice edges (s).
``beta``: (K,) bound on the half-angle between the normals of any pair that can lose separation
before the end of the slice (rad). Boxes are 4-D — three Cartesian axes and altitude — stored as
rows ``(lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]
Box = tuple[float, float, float, float, float, float, float, float]
Encounter = tuple[bool, float, float, float, float, float, bool]
#: What `slice_grid` returns: ``(box, origin, is_big, start, ent, ent_floor)``.
Grid = tuple[F64, F64, Bools, I64, I32, F64]

# An aircraft whose swept box in one slice covers more grid cells than this is not hashed; it is
# tested against every other aircraft directly (keeps memory bounded for outliers).
_MAX_CELLS_PER_BOX = 256
# Slack added to every pruning box (m): far above float64 rounding of ECEF coordinates (~1e-9 m),
# so that a pair the exact test accepts can never be pruned away by rounding.
_BOX_SLACK_M = 1.0
_BOX_SLACK_V_M = 0.5
# Squared relative horizontal speed (m²/s²) below which the horizontal distance counts as constant
# (1 µm/s: at most 1.2 mm over the longest look-ahead). Far above the rounding noise of the
# velocity rotation (~1e-13 m/s), it keeps tcpa from being read off that noise.
_STILL_M2_PER_S2 = 1e-12


@njit(cache=True, nogil=True)
def _box(a: int, k: int, state: F64, t_edges: F64, beta: F64, half_h: float, half_v: float) -> Box:
    """4-D box swept by aircraft ``a`` during slice ``k``, grown by its pruning margins."""
    t0 = t_edges[k]
    t1 = t_edges[k + 1]
    m = half_h + t1 * state[a, 11] * beta[k] + _BOX_SLACK_M
    mv = half_v + _BOX_SLACK_V_M
    x0 = state[a, 0] + state[a, 3] * t0
    x1 = state[a, 0] + state[a, 3] * t1
    y0 = state[a, 1] + state[a, 4] * t0
    y1 = state[a, 1] + state[a, 4] * t1
    z0 = state[a, 2] + state[a, 5] * t0
    z1 = state[a, 2] + state[a, 5] * t1
    h0 = state[a, 9] + state[a, 10] * t0
    h1 = state[a, 9] + state[a, 10] * t1
    return (
        min(x0, x1) - m,
        min(y0, y1) - m,
        min(z0, z1) - m,
        min(h0, h1) - mv,
        max(x0, x1) + m,
        max(y0, y1) + m,
        max(z0, z1) + m,
        max(h0, h1) + mv,
    )


@njit(cache=True, nogil=True)
def _encounter(
    a: int, b: int, state: F64, h_eff: float, v_eff: float, look_ahead: float
) -> Encounter:
    """Exact test of one pair; returns (conflict, t_in, t_out, tcpa, dcpa, vcpa, lost_now)."""
    # Common frame: the tangent plane at the bisector m of the two geodetic normals.
    mx = state[a, 6] + state[b, 6]
    my = state[a, 7] + state[b, 7]
    mz = state[a, 8] + state[b, 8]
    mn = np.sqrt(mx * mx + my * my + mz * mz)
    if mn < 1e-9:  # antipodal: never a candidate, but never divide by zero either
        return False, 0.0, 0.0, 0.0, 0.0, 0.0, False
    mx /= mn
    my /= mn
    mz /= mn
    # Rotate each velocity v from its own tangent plane (normal u) to the common one; for v
    # orthogonal to u the rotation taking u to m is v - (v.m) / (1 + u.m) * (u + m).
    fa = (state[a, 3] * mx + state[a, 4] * my + state[a, 5] * mz) / (
        1.0 + state[a, 6] * mx + state[a, 7] * my + state[a, 8] * mz
    )
    fb = (state[b, 3] * mx + state[b, 4] * my + state[b, 5] * mz) / (
        1.0 + state[b, 6] * mx + state[b, 7] * my + state[b, 8] * mz
    )
    wx = (state[b, 3] - fb * (state[b, 6] + mx)) - (state[a, 3] - fa * (state[a, 6] + mx))
    wy = (state[b, 4] - fb * (state[b, 7] + my)) - (state[a, 4] - fa * (state[a, 7] + my))
    wz = (state[b, 5] - fb * (state[b, 8] + mz)) - (state[a, 5] - fa * (state[a, 8] + mz))
    cx = state[b, 0] - state[a, 0]
    cy = state[b, 1] - state[a, 1]
    cz = state[b, 2] - state[a, 2]
    # Horizontal: |c + w t|^2 < h_eff^2  <=>  qa t^2 + 2 qb t + qc < 0.
    qa = wx * wx + wy * wy + wz * wz
    qb = cx * wx + cy * wy + cz * wz
    qc = cx * cx + cy * cy + cz * cz - h_eff * h_eff
    if qa < _STILL_M2_PER_S2:
        qa = 0.0
        if qc >= 0.0:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0, False
        h_lo = -np.inf
        h_hi = np.inf
    else:
        disc = qb * qb - qa * qc
        if disc <= 0.0:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0, False
        sq = np.sqrt(disc)
        # Numerically stable roots of qa t^2 + 2 qb t + qc.
        q = -(qb + sq) if qb >= 0.0 else -(qb - sq)
        r1 = q / qa
        r2 = qc / q
        h_lo = min(r1, r2)
        h_hi = max(r1, r2)
    # Vertical: |dz + dvz t| < v_eff.
    dz = state[b, 9] - state[a, 9]
    dvz = state[b, 10] - state[a, 10]
    if dvz == 0.0:
        if abs(dz) >= v_eff:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0, False
        v_lo = -np.inf
        v_hi = np.inf
    else:
        s1 = (-v_eff - dz) / dvz
        s2 = (v_eff - dz) / dvz
        v_lo = min(s1, s2)
        v_hi = max(s1, s2)
    lo = max(h_lo, v_lo)
    hi = min(h_hi, v_hi)
    if not (lo < hi and lo < look_ahead and hi > 0.0):
        return False, 0.0, 0.0, 0.0, 0.0, 0.0, False
    tcpa = 0.0
    if qa > 0.0:
        tcpa = min(max(-qb / qa, 0.0), look_ahead)
    px = cx + wx * tcpa
    py = cy + wy * tcpa
    pz = cz + wz * tcpa
    dcpa = np.sqrt(px * px + py * py + pz * pz)
    vcpa = abs(dz + dvz * tcpa)
    return True, max(lo, 0.0), min(hi, look_ahead), tcpa, dcpa, vcpa, lo < 0.0


@njit(cache=True, nogil=True)
def _seen_before(
    a: int, b: int, k: int, state: F64, t_edges: F64, beta: F64, half_h: float, half_v: float
) -> bool:
    """True when ``a`` and ``b`` were already candidates (intersecting boxes) before slice ``k``."""
    for kk in range(k - 1, -1, -1):
        ba = _box(a, kk, state, t_edges, beta, half_h, half_v)
        bb = _box(b, kk, state, t_edges, beta, half_h, half_v)
        if not (
            ba[3] > bb[7]
            or bb[3] > ba[7]
            or ba[0] > bb[4]
            or bb[0] > ba[4]
            or ba[1] > bb[5]
            or bb[1] > ba[5]
            or ba[2] > bb[6]
            or bb[2] > ba[6]
        ):
            return True
    return False


@njit(cache=True, nogil=True)
def _cell(x: float, origin: float, size: float) -> np.int64:
    return np.int64(np.floor((x - origin) / size))


@njit(cache=True, nogil=True)
def _hash3(i0: int, i1: int, i2: int, mask: int) -> np.int64:
    h = np.uint64(i0) * np.uint64(0x9E3779B97F4A7C15)
    h = (h ^ np.uint64(i1)) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ np.uint64(i2)) * np.uint64(0x94D049BB133111EB)
    h = h ^ (h >> np.uint64(31))
    return np.int64(h & np.uint64(mask))


@njit(cache=True, nogil=True)
def _apart(box: F64, a: int, b: int) -> bool:
    """True when the 4-D boxes of ``a`` and ``b`` do not intersect (closed boxes)."""
    return bool(
        box[a, 3] > box[b, 7]
        or box[b, 3] > box[a, 7]
        or box[a, 0] > box[b, 4]
        or box[b, 0] > box[a, 4]
        or box[a, 1] > box[b, 5]
        or box[b, 1] > box[a, 5]
        or box[a, 2] > box[b, 6]
        or box[b, 2] > box[a, 6]
    )


@njit(cache=True, nogil=True)
def _put(
    out_i: I64, out_f: F64, out_l: Bools, m: int, a: int, b: int,
    t_in: float, t_out: float, tcpa: float, dcpa: float, vcpa: float, lost: bool,
) -> tuple[I64, F64, Bools]:
    """Write encounter (a, b) as row ``m``, growing the buffers when full."""
    if m == out_i.shape[0]:
        out_i, out_f, out_l = _grown(out_i, out_f, out_l)
    out_i[m, 0] = min(a, b)
    out_i[m, 1] = max(a, b)
    out_f[m, 0] = t_in
    out_f[m, 1] = t_out
    out_f[m, 2] = tcpa
    out_f[m, 3] = dcpa
    out_f[m, 4] = vcpa
    out_l[m] = lost
    return out_i, out_f, out_l


@njit(cache=True, nogil=True)
def _grown(out_i: I64, out_f: F64, out_l: Bools) -> tuple[I64, F64, Bools]:
    """Output buffers of twice the capacity, holding the same rows."""
    m = out_i.shape[0]
    ni = np.empty((2 * m, 2), dtype=np.int64)
    nf = np.empty((2 * m, 5))
    nl = np.empty(2 * m, dtype=np.bool_)
    ni[:m] = out_i
    nf[:m] = out_f
    nl[:m] = out_l
    return ni, nf, nl


@njit(cache=True, nogil=True)
def slice_grid(
    k: int, state: F64, t_edges: F64, beta: F64, half_h: float, half_v: float, cell: F64
) -> Grid:
    """Pruning grid of slice ``k``: every aircraft's box hashed into a uniform 3-D grid.

    Returns ``(box, origin, is_big, start, ent, ent_floor)``: (N, 8) boxes; (3,) grid origin;
    (N,) aircraft too big to hash (left to brute force); (B + 1,) start of each hash bucket in the
    entries; (E, 4) int32 entries ``(aircraft, cell index 0..2)``; (E,) each entry's altitude-band
    floor. Within a bucket, entries are in order of increasing floor, so that a sweep can stop at
    the first entry above an aircraft's band.
    """
    n = state.shape[0]
    box = np.empty((n, 8))
    for a in range(n):
        bx = _box(a, k, state, t_edges, beta, half_h, half_v)
        for d in range(8):
            box[a, d] = bx[d]
    by_floor = np.argsort(box[:, 3])
    origin = np.empty(3)
    for d in range(3):
        origin[d] = box[:, d].min() - cell[d]
    # Cell ranges; an aircraft spanning too many cells goes to the brute-force list.
    c0 = np.empty((n, 3), dtype=np.int64)
    c1 = np.empty((n, 3), dtype=np.int64)
    is_big = np.zeros(n, dtype=np.bool_)
    total = np.int64(0)
    for a in range(n):
        span = 1.0
        for d in range(3):
            span *= (
                np.floor((box[a, 4 + d] - origin[d]) / cell[d])
                - np.floor((box[a, d] - origin[d]) / cell[d])
                + 1.0
            )
        if not (span <= _MAX_CELLS_PER_BOX):
            is_big[a] = True
            continue
        for d in range(3):
            c0[a, d] = _cell(box[a, d], origin[d], cell[d])
            c1[a, d] = _cell(box[a, 4 + d], origin[d], cell[d])
        total += np.int64(span)
    # Stable counting sort of (aircraft, cell) entries by hash bucket, aircraft taken by
    # increasing floor.
    size = 1024
    while size < total:
        size *= 2
    mask = size - 1
    ent_h = np.empty(total, dtype=np.int64)
    start = np.zeros(size + 1, dtype=np.int64)
    e = 0
    for a in by_floor:
        if is_big[a]:
            continue
        for i0 in range(c0[a, 0], c1[a, 0] + 1):
            for i1 in range(c0[a, 1], c1[a, 1] + 1):
                for i2 in range(c0[a, 2], c1[a, 2] + 1):
                    h = _hash3(i0, i1, i2, mask)
                    ent_h[e] = h
                    start[h + 1] += 1
                    e += 1
    for b in range(size):
        start[b + 1] += start[b]
    fill = start[:size].copy()
    ent = np.empty((total, 4), dtype=np.int32)
    ent_floor = np.empty(total)
    e = 0
    for a in by_floor:
        if is_big[a]:
            continue
        for i0 in range(c0[a, 0], c1[a, 0] + 1):
            for i1 in range(c0[a, 1], c1[a, 1] + 1):
                for i2 in range(c0[a, 2], c1[a, 2] + 1):
                    p = fill[ent_h[e]]
                    fill[ent_h[e]] = p + 1
                    e += 1
                    ent[p, 0] = a
                    ent[p, 1] = i0
                    ent[p, 2] = i1
                    ent[p, 3] = i2
                    ent_floor[p] = box[a, 3]
    return box, origin, is_big, start, ent, ent_floor


@njit(cache=True, nogil=True)
def slice_pairs(
    k: int,
    h_first: int,
    h_last: int,
    with_big: bool,
    box: F64,
    origin: F64,
    is_big: Bools,
    start: I64,
    ent: I32,
    ent_floor: F64,
    state: F64,
    party: I64,
    t_edges: F64,
    beta: F64,
    half_h: float,
    half_v: float,
    h_eff: float,
    v_eff: float,
    look_ahead: float,
    same_party: bool,
    cell: F64,
) -> tuple[I64, F64, Bools]:
    """Conflicting pairs first met in slice ``k``, from buckets ``h_first:h_last`` of its grid.

    A pair of intersecting boxes is visited once, in the cell holding the lower corner of their
    intersection; it is then a candidate of this slice, tested exactly unless an earlier slice
    already had it as a candidate. With ``with_big``, the aircraft too big to hash are tested
    against everybody. Returns ``(ij, f, lost_now)``: (M, 2) int64 pairs with ``i < j``, (M, 5)
    float64 ``t_in, t_out, tcpa, dcpa, vcpa``, (M,) bool.
    """
    n = state.shape[0]
    m = 0
    out_i = np.empty((1024, 2), dtype=np.int64)
    out_f = np.empty((1024, 5))
    out_l = np.empty(1024, dtype=np.bool_)
    for h in range(h_first, h_last):
        end = start[h + 1]
        for p in range(start[h], end - 1):
            a = ent[p, 0]
            ceiling = box[a, 7]
            p1 = ent[p, 1]
            p2 = ent[p, 2]
            p3 = ent[p, 3]
            for q in range(p + 1, end):
                if ent_floor[q] > ceiling:
                    break  # this and all later entries are above a's band
                if ent[q, 1] != p1 or ent[q, 2] != p2 or ent[q, 3] != p3:
                    continue  # another cell in the same bucket
                b = ent[q, 0]
                if _apart(box, a, b):
                    continue
                if not same_party and party[a] == party[b]:
                    continue
                if (
                    _cell(max(box[a, 0], box[b, 0]), origin[0], cell[0]) != p1
                    or _cell(max(box[a, 1], box[b, 1]), origin[1], cell[1]) != p2
                    or _cell(max(box[a, 2], box[b, 2]), origin[2], cell[2]) != p3
                ):
                    continue  # the pair is visited in the cell of its lower corner
                if _seen_before(a, b, k, state, t_edges, beta, half_h, half_v):
                    continue  # each pair is tested in the first slice where it is a candidate
                ok, t_in, t_out, tcpa, dcpa, vcpa, lost = _encounter(
                    a, b, state, h_eff, v_eff, look_ahead
                )
                if ok:
                    out_i, out_f, out_l = _put(
                        out_i, out_f, out_l, m, a, b, t_in, t_out, tcpa, dcpa, vcpa, lost
                    )
                    m += 1
    if with_big:
        for a in range(n):
            if not is_big[a]:
                continue
            for b in range(n):
                if b == a or (is_big[b] and b < a) or _apart(box, a, b):
                    continue
                if not same_party and party[a] == party[b]:
                    continue
                if _seen_before(a, b, k, state, t_edges, beta, half_h, half_v):
                    continue
                ok, t_in, t_out, tcpa, dcpa, vcpa, lost = _encounter(
                    a, b, state, h_eff, v_eff, look_ahead
                )
                if ok:
                    out_i, out_f, out_l = _put(
                        out_i, out_f, out_l, m, a, b, t_in, t_out, tcpa, dcpa, vcpa, lost
                    )
                    m += 1
    return out_i[:m], out_f[:m], out_l[:m]


@njit(cache=True, nogil=True)
def assemble(ij: I64, f: F64, lost: Bools, perm: I64, n: int) -> tuple[I64, I64, F64, Bools]:
    """Map pairs back to input indices, order them by ``(i, j)``, split the columns."""
    m = ij.shape[0]
    i = np.empty(m, dtype=np.int64)
    j = np.empty(m, dtype=np.int64)
    for p in range(m):
        u = perm[ij[p, 0]]
        v = perm[ij[p, 1]]
        i[p] = min(u, v)
        j[p] = max(u, v)
    order = pair_order(i, j, n)
    si = np.empty(m, dtype=np.int64)
    sj = np.empty(m, dtype=np.int64)
    cols = np.empty((5, m))
    sl = np.empty(m, dtype=np.bool_)
    for p in range(m):
        o = order[p]
        si[p] = i[o]
        sj[p] = j[o]
        for c in range(5):
            cols[c, p] = f[o, c]
        sl[p] = lost[o]
    return si, sj, cols, sl


@njit(cache=True, nogil=True)
def pair_order(i: I64, j: I64, n: int) -> I64:
    """Permutation sorting pairs by ``(i, j)``: counting sort on ``i``, then sort within rows."""
    m = i.shape[0]
    start = np.zeros(n + 1, dtype=np.int64)
    for p in range(m):
        start[i[p] + 1] += 1
    for r in range(n):
        start[r + 1] += start[r]
    fill = start[:n].copy()
    order = np.empty(m, dtype=np.int64)
    for p in range(m):
        order[fill[i[p]]] = p
        fill[i[p]] += 1
    for r in range(n):
        s = start[r]
        t = start[r + 1]
        if t - s < 2:
            continue
        if t - s <= 32:  # insertion sort on short rows
            for u in range(s + 1, t):
                v = order[u]
                key = j[v]
                w = u - 1
                while w >= s and j[order[w]] > key:
                    order[w + 1] = order[w]
                    w -= 1
                order[w + 1] = v
        else:
            row = order[s:t].copy()
            order[s:t] = row[np.argsort(j[row])]
    return order
