"""Footprints across the antimeridian (near Fiji, lat -17) and near the North Pole (85 N):
accepted, queried and deconflicted geodesically (1 km apart conflict, 50 km apart do not)."""

from __future__ import annotations


def _box(lon_w: float, lon_e: float, lat_s: float, lat_n: float) -> dict:
    """A lon/lat box, counter-clockwise; lon_w > lon_e means it crosses the antimeridian."""
    return {"type": "Polygon", "coordinates": [[
        [lon_w, lat_s], [lon_e, lat_s], [lon_e, lat_n], [lon_w, lat_n], [lon_w, lat_s]]]}


def _east_of(geo, lon: float, lat: float, dist_m: float) -> float:
    return geo.offset((lon, lat), 90, dist_m)[0]


def _west_of(geo, lon: float, lat: float, dist_m: float) -> float:
    return geo.offset((lon, lat), 270, dist_m)[0]


def test_antimeridian_footprint_is_accepted_and_queried(api, geo):
    lat = -17.0
    fp = _box(179.8, -179.8, lat - 0.1, lat + 0.1)  # about 43 km x 22 km, across 180
    op = api.create_op("blue", [geo.volume(fp)])
    assert op["short_notice"] is False
    geo_fp = op["volumes"][0]["footprint"]
    assert geo_fp["type"] == "Polygon"
    # Both sides of the line find it; the far side of the Earth does not.
    for lon in (179.9, -179.9, 180.0):
        found = api.query("watch", geo.area4d(geo.circle((lon, lat), 1000)))
        assert op["id"] in {o["id"] for o in found}
    found = api.query("watch", geo.area4d(geo.circle((0.0, lat), 5000)))
    assert op["id"] not in {o["id"] for o in found}
    # An operation on the other side of the world does not conflict with it.
    api.create_op("red", [geo.volume(geo.square((0.0, lat), 2000))])
    api.create_op("red", [geo.volume(geo.square((-1.0, lat), 2000))])
    # But right next to it, on either side of the line, there is a conflict.
    api.problem(api.post_op("red", [geo.volume(geo.circle((-179.75, lat), 1000))]), 409, "conflict")
    api.problem(api.post_op("red", [geo.volume(geo.circle((179.75, lat), 1000))]), 409, "conflict")


def test_antimeridian_footprints_1_km_apart_conflict(api, geo):
    lat = -19.0
    api.create_op("blue", [geo.volume(_box(179.8, -179.8, lat - 0.1, lat + 0.1))])
    # East of it, 1 km beyond its eastern edge.
    w = _east_of(geo, -179.8, lat, 1000)
    p = api.problem(api.post_op("red", [geo.volume(_box(w, -179.6, lat - 0.1, lat + 0.1))]),
                    409, "conflict")
    assert p["conflicts"]
    # West of it, 1 km beyond its western edge.
    e = _west_of(geo, 179.8, lat, 1000)
    api.problem(api.post_op("red", [geo.volume(_box(179.6, e, lat - 0.1, lat + 0.1))]),
                409, "conflict")


def test_footprints_1_km_apart_across_the_antimeridian_conflict(api, geo):
    lat = -15.0
    east_edge = _west_of(geo, 180.0, lat, 500)  # 500 m west of the line
    west_edge = _east_of(geo, 180.0, lat, 500)  # 500 m east of the line
    api.create_op("blue", [geo.volume(_box(179.7, east_edge, lat - 0.1, lat + 0.1))])
    p = api.problem(api.post_op("red", [geo.volume(_box(west_edge, -179.7, lat - 0.1, lat + 0.1))]),
                    409, "conflict")
    assert p["conflicts"]


def test_antimeridian_footprints_50_km_apart_do_not_conflict(api, geo):
    lat = -21.0
    api.create_op("blue", [geo.volume(_box(179.8, -179.8, lat - 0.1, lat + 0.1))])
    w = _east_of(geo, -179.8, lat, 50_000)
    api.create_op("red", [geo.volume(_box(w, _east_of(geo, w, lat, 20_000), lat - 0.1, lat + 0.1))])
    e = _west_of(geo, 179.8, lat, 50_000)
    api.create_op("red", [geo.volume(_box(_west_of(geo, e, lat, 20_000), e, lat - 0.1, lat + 0.1))])
    # Across the line, 50 km apart.
    lat2 = -23.0
    api.create_op("blue", [geo.volume(_box(179.5, _west_of(geo, 180.0, lat2, 25_000),
                                           lat2 - 0.1, lat2 + 0.1))])
    api.create_op("red", [geo.volume(_box(_east_of(geo, 180.0, lat2, 25_000), -179.5,
                                          lat2 - 0.1, lat2 + 0.1))])


def test_polar_footprints_1_km_apart_conflict(api, geo):
    for lon, az in ((0.0, 90.0), (45.0, 0.0)):
        centre = (lon, 85.0)
        a, b = geo.facing_diamonds(centre, 1000.0, az)
        api.create_op("blue", [geo.volume(a)])
        api.problem(api.post_op("red", [geo.volume(b)]), 409, "conflict")
    # Circles, 1 km between edges.
    c = (-45.0, 85.0)
    api.create_op("blue", [geo.volume(geo.circle(c, 2000))])
    api.problem(api.post_op("red", [geo.volume(geo.circle(geo.offset(c, 90, 5000), 2000))]),
                409, "conflict")


def test_polar_footprints_50_km_apart_do_not_conflict(api, geo):
    for lon, az in ((90.0, 90.0), (135.0, 0.0)):
        centre = (lon, 85.0)
        a, b = geo.facing_diamonds(centre, 50_000.0, az)
        api.create_op("blue", [geo.volume(a)])
        api.create_op("red", [geo.volume(b)])
    # A 2 km square at 85 N spans about 0.2 degrees of longitude; it is queryable.
    sq = geo.square((-135.0, 85.0), 1000)
    op = api.create_op("blue", [geo.volume(sq)])
    found = api.query("watch", geo.area4d(geo.circle((-135.0, 85.0), 300)))
    assert op["id"] in {o["id"] for o in found}
    assert op["id"] not in {o["id"] for o in api.query(
        "watch", geo.area4d(geo.circle(geo.offset((-135.0, 85.0), 90, 5000), 1000)))}


def test_circles_across_the_antimeridian(api, geo):
    lat = -25.0
    c = (179.995, lat)
    api.create_op("blue", [geo.volume(geo.circle(c, 3000))])
    # 1 km between edges, on the other side of the line: conflict.
    near = geo.offset(c, 90, 3000 + 1000 + 1000)
    assert near[0] < 0
    api.problem(api.post_op("red", [geo.volume(geo.circle(near, 1000))]), 409, "conflict")
    # 50 km between edges: clear.
    far = geo.offset(c, 90, 3000 + 50_000 + 1000)
    api.create_op("red", [geo.volume(geo.circle(far, 1000))])


def test_circle_around_the_north_pole(api, geo):
    """A 20 km circle centred 0.1 degree from the pole covers it; a circle across the pole,
    1.3 km from its edge, conflicts; one 50 km from its edge does not."""
    c = (0.0, 89.9)
    api.create_op("blue", [geo.volume(geo.circle(c, 20_000), 5000, 6000)])
    other_side = (180.0, 89.9)  # 0.2 degree of latitude (about 22.3 km) across the pole
    gap = geo.distance(c, other_side) - 20_000 - 1000
    assert 1000 < gap < 2000
    api.problem(api.post_op("red", [geo.volume(geo.circle(other_side, 1000), 5000, 6000)]),
                409, "conflict")
    far = geo.offset(c, 90, 20_000 + 50_000 + 1000)
    api.create_op("red", [geo.volume(geo.circle(far, 1000), 5000, 6000)])
