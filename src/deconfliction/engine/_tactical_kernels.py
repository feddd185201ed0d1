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
from numba import njit

# An aircraft whose swept box in one slice covers more grid cells than this is not hashed; it is
# tested against every other aircraft directly (keeps memory bounded for outliers).
_MAX_CELLS_PER_BOX = 256
# Slack added to every pruning box (m): far above float64 rounding of ECEF coordinates (~1e-9 m),
# so that a pair the exact test accepts can never be pruned away by rounding.
_BOX_SLACK_M = 1.0
_BOX_SLACK_V_M = 0.5


@njit(cache=True, nogil=True, inline="always")
def _box(a, k, state, t_edges, beta, half_h, half_v):
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


@njit(cache=True, nogil=True, inline="always")
def _overlap_in_slice(a, b, k, state, t_edges, beta, half_h, half_v):
    """True when the 4-D boxes of ``a`` and ``b`` in slice ``k`` intersect (closed boxes)."""
    ba = _box(a, k, state, t_edges, beta, half_h, half_v)
    bb = _box(b, k, state, t_edges, beta, half_h, half_v)
    for d in range(4):
        if ba[d] > bb[4 + d] or bb[d] > ba[4 + d]:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _encounter(a, b, state, h_eff, v_eff, look_ahead):
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
    if qa == 0.0:
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


@njit(cache=True, nogil=True, inline="always")
def _accept(a, b, k, state, t_edges, beta, half_h, half_v, h_eff, v_eff, look_ahead):
    """Exact test of a candidate of slice ``k``, refused unless ``k`` is its canonical slice.

    The canonical slice is the one holding ``t_in`` when the pair is a candidate there (it always
    is, up to rounding, since the boxes hold both aircraft at ``t_in``), else the first slice
    where the pair is a candidate. Exactly one slice accepts each conflicting pair.
    """
    ok, t_in, t_out, tcpa, dcpa, vcpa, lost = _encounter(a, b, state, h_eff, v_eff, look_ahead)
    if ok:
        n_slices = t_edges.shape[0] - 1
        s = n_slices - 1
        while s > 0 and t_in < t_edges[s]:
            s -= 1
        if s != k:
            if _overlap_in_slice(a, b, s, state, t_edges, beta, half_h, half_v):
                ok = False
            else:
                for kk in range(k):
                    if _overlap_in_slice(a, b, kk, state, t_edges, beta, half_h, half_v):
                        ok = False
                        break
    return ok, t_in, t_out, tcpa, dcpa, vcpa, lost


@njit(cache=True, nogil=True, inline="always")
def _cell(x, origin, size):
    return np.int64(np.floor((x - origin) / size))


@njit(cache=True, nogil=True, inline="always")
def _hash4(i0, i1, i2, i3, mask):
    h = np.uint64(i0) * np.uint64(0x9E3779B97F4A7C15)
    h = (h ^ np.uint64(i1)) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ np.uint64(i2)) * np.uint64(0x94D049BB133111EB)
    h = (h ^ np.uint64(i3)) * np.uint64(0x9E3779B97F4A7C15)
    h = h ^ (h >> np.uint64(29))
    return np.int64(h & np.uint64(mask))


@njit(cache=True, nogil=True)
def _grown(out_i, out_f, out_l):
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
def slice_encounters(
    k, state, party, t_edges, beta, half_h, half_v, h_eff, v_eff, look_ahead, same_party, cell
):
    """Every conflicting pair whose canonical slice is ``k``.

    Hashes each aircraft's slice box into a 4-D uniform grid (cell sizes ``cell[0:4]``), visits
    each pair of intersecting boxes once (in the cell holding the lower corner of their
    intersection), and keeps a pair when the exact test accepts it and ``k`` is its canonical
    slice. Returns ``(ij, f, lost_now)``: (M, 2) int64 pairs with ``i < j``, (M, 5) float64
    ``t_in, t_out, tcpa, dcpa, vcpa``, (M,) bool.
    """
    n = state.shape[0]
    box = np.empty((n, 8))
    for a in range(n):
        bx = _box(a, k, state, t_edges, beta, half_h, half_v)
        for d in range(8):
            box[a, d] = bx[d]
    origin = np.empty(4)
    for d in range(4):
        origin[d] = box[:, d].min() - cell[d]
    # Cell ranges; an aircraft spanning too many cells goes to the brute-force list.
    c0 = np.empty((n, 4), dtype=np.int64)
    c1 = np.empty((n, 4), dtype=np.int64)
    is_big = np.zeros(n, dtype=np.bool_)
    n_big = 0
    total = 0
    for a in range(n):
        span = 1.0
        for d in range(4):
            span *= np.floor((box[a, 4 + d] - origin[d]) / cell[d]) - np.floor(
                (box[a, d] - origin[d]) / cell[d]
            ) + 1.0
        if not (span <= _MAX_CELLS_PER_BOX):
            is_big[a] = True
            n_big += 1
            continue
        for d in range(4):
            c0[a, d] = _cell(box[a, d], origin[d], cell[d])
            c1[a, d] = _cell(box[a, 4 + d], origin[d], cell[d])
        total += np.int64(span)

    # Counting sort of (aircraft, cell) entries by hash bucket; entries are laid out in bucket
    # order so that the pair loop reads them sequentially.
    size = 1024
    while size < total:
        size *= 2
    mask = size - 1
    ent_h = np.empty(total, dtype=np.int64)
    start = np.zeros(size + 1, dtype=np.int64)
    e = 0
    for a in range(n):
        if is_big[a]:
            continue
        for i0 in range(c0[a, 0], c1[a, 0] + 1):
            for i1 in range(c0[a, 1], c1[a, 1] + 1):
                for i2 in range(c0[a, 2], c1[a, 2] + 1):
                    for i3 in range(c0[a, 3], c1[a, 3] + 1):
                        h = _hash4(i0, i1, i2, i3, mask)
                        ent_h[e] = h
                        start[h + 1] += 1
                        e += 1
    for h in range(size):
        start[h + 1] += start[h]
    fill = start[:size].copy()
    ent = np.empty((total, 5), dtype=np.int32)  # aircraft, then its cell
    e = 0
    for a in range(n):
        if is_big[a]:
            continue
        for i0 in range(c0[a, 0], c1[a, 0] + 1):
            for i1 in range(c0[a, 1], c1[a, 1] + 1):
                for i2 in range(c0[a, 2], c1[a, 2] + 1):
                    for i3 in range(c0[a, 3], c1[a, 3] + 1):
                        p = fill[ent_h[e]]
                        fill[ent_h[e]] = p + 1
                        e += 1
                        ent[p, 0] = a
                        ent[p, 1] = i0
                        ent[p, 2] = i1
                        ent[p, 3] = i2
                        ent[p, 4] = i3

    m = 0
    out_i = np.empty((1024, 2), dtype=np.int64)
    out_f = np.empty((1024, 5))
    out_l = np.empty(1024, dtype=np.bool_)
    # Pairs sharing a grid cell.
    for h in range(size):
        for p in range(start[h], start[h + 1] - 1):
            a = ent[p, 0]
            p1 = ent[p, 1]
            p2 = ent[p, 2]
            p3 = ent[p, 3]
            p4 = ent[p, 4]
            alo0 = box[a, 0]
            alo1 = box[a, 1]
            alo2 = box[a, 2]
            alo3 = box[a, 3]
            ahi0 = box[a, 4]
            ahi1 = box[a, 5]
            ahi2 = box[a, 6]
            ahi3 = box[a, 7]
            for q in range(p + 1, start[h + 1]):
                if ent[q, 4] != p4 or ent[q, 1] != p1 or ent[q, 2] != p2 or ent[q, 3] != p3:
                    continue  # another cell in the same bucket
                b = ent[q, 0]
                if (
                    alo3 > box[b, 7]
                    or box[b, 3] > ahi3
                    or alo0 > box[b, 4]
                    or box[b, 0] > ahi0
                    or alo1 > box[b, 5]
                    or box[b, 1] > ahi1
                    or alo2 > box[b, 6]
                    or box[b, 2] > ahi2
                ):
                    continue  # boxes apart
                if not same_party and party[a] == party[b]:
                    continue
                if (
                    _cell(max(alo3, box[b, 3]), origin[3], cell[3]) != p4
                    or _cell(max(alo0, box[b, 0]), origin[0], cell[0]) != p1
                    or _cell(max(alo1, box[b, 1]), origin[1], cell[1]) != p2
                    or _cell(max(alo2, box[b, 2]), origin[2], cell[2]) != p3
                ):
                    continue  # the pair is visited in the cell of its lower corner
                ok, t_in, t_out, tcpa, dcpa, vcpa, lost = _accept(
                    a, b, k, state, t_edges, beta, half_h, half_v, h_eff, v_eff, look_ahead
                )
                if ok:
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
                    m += 1
    # Aircraft too big to hash: tested against everybody.
    if n_big > 0:
        for a in range(n):
            if not is_big[a]:
                continue
            for b in range(n):
                if b == a or (is_big[b] and b < a):
                    continue
                if not same_party and party[a] == party[b]:
                    continue
                apart = False
                for d in range(4):
                    if box[a, d] > box[b, 4 + d] or box[b, d] > box[a, 4 + d]:
                        apart = True
                        break
                if apart:
                    continue
                ok, t_in, t_out, tcpa, dcpa, vcpa, lost = _accept(
                    a, b, k, state, t_edges, beta, half_h, half_v, h_eff, v_eff, look_ahead
                )
                if ok:
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
                    m += 1
    return out_i[:m], out_f[:m], out_l[:m]


@njit(cache=True, nogil=True)
def pair_order(i, j, n):
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
