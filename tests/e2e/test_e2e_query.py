"""POST /v1/operations/query: operations (not ended) with a volume intersecting a 4D area."""

from __future__ import annotations

from datetime import timedelta

HOUR = timedelta(hours=1)


def _ids(ops):
    return {o["id"] for o in ops}


def test_query_by_footprint_altitude_and_time(api, geo, area):
    t0 = geo.now() + 3 * HOUR
    a = api.create_op("blue", [geo.volume(geo.square(area, 1000), 1000, 2000, t0, t0 + HOUR)])
    b = api.create_op("red", [geo.volume(geo.square(geo.offset(area, 90, 20_000), 1000),
                                         1000, 2000, t0, t0 + HOUR)])

    # Footprint only.
    assert _ids(api.query("watch", geo.area4d(geo.square(area, 3000)))) == {a["id"]}
    assert _ids(api.query("watch", geo.area4d(geo.square(geo.offset(area, 90, 10_000), 12_000)))) \
        == {a["id"], b["id"]}
    assert _ids(api.query("watch", geo.area4d(geo.circle(geo.offset(area, 90, 20_000), 500)))) \
        == {b["id"]}
    # Not within the minima but outside: intersection, not separation.
    assert _ids(api.query("watch", geo.area4d(geo.circle(geo.offset(area, 90, 4000), 1000)))) \
        == set()
    # Altitude.
    fp = geo.square(area, 3000)
    assert _ids(api.query("watch", geo.area4d(fp, 1500, 1600))) == {a["id"]}
    assert _ids(api.query("watch", geo.area4d(fp, 2100, 3000))) == set()
    assert _ids(api.query("watch", geo.area4d(fp, 0, 900))) == set()
    # Open-ended bands.
    assert _ids(api.query("watch", geo.area4d(fp, lower=2500))) == set()
    assert _ids(api.query("watch", geo.area4d(fp, upper=500))) == set()
    assert _ids(api.query("watch", geo.area4d(fp, lower=1900))) == {a["id"]}
    # Time.
    assert _ids(api.query("watch", geo.area4d(fp, start=t0 + HOUR / 2, end=t0 + 2 * HOUR))) \
        == {a["id"]}
    assert _ids(api.query("watch", geo.area4d(fp, start=t0 + 2 * HOUR, end=t0 + 3 * HOUR))) \
        == set()
    assert _ids(api.query("watch", geo.area4d(fp, start=t0 - 2 * HOUR, end=t0 - HOUR))) == set()
    assert _ids(api.query("watch", geo.area4d(fp, start=t0 + 2 * HOUR))) == set()
    assert _ids(api.query("watch", geo.area4d(fp, end=t0 + timedelta(seconds=60)))) == {a["id"]}
    # All four dimensions together.
    assert _ids(api.query("watch", geo.area4d(fp, 1500, 1600, t0 + HOUR / 6, t0 + HOUR / 3))) \
        == {a["id"]}


def test_query_with_several_volumes_and_any_party(api, geo, area):
    far = geo.offset(area, 0, 40_000)
    op = api.create_op("blue", [geo.volume(geo.square(area)), geo.volume(geo.circle(far, 1000))])
    for party in ("blue", "red", "mission", "watch"):
        assert op["id"] in _ids(api.query(party, geo.area4d(geo.circle(far, 3000))))


def test_query_omits_ended_operations(api, geo, area):
    op = api.create_op("blue", [geo.volume(geo.square(area))])
    assert _ids(api.query("watch", geo.area4d(geo.square(area, 2000)))) == {op["id"]}
    api.expect(api.blue.delete(f"/v1/operations/{op['id']}", params={"ovn": op["ovn"]}), 200)
    assert _ids(api.query("watch", geo.area4d(geo.square(area, 2000)))) == set()


def test_query_with_invalid_area_is_400(api, geo, area):
    bowtie = {"type": "Polygon", "coordinates": [[
        list(geo.offset(area, 225, 1000)), list(geo.offset(area, 45, 1000)),
        list(geo.offset(area, 135, 1000)), list(geo.offset(area, 315, 1000)),
        list(geo.offset(area, 225, 1000))]]}
    p = api.problem(api.watch.post("/v1/operations/query", json={"area": {"footprint": bowtie}}),
                    400, "validation_error")
    assert any(e["field"].startswith("area.footprint") for e in p["errors"]), p
    p = api.problem(api.watch.post("/v1/operations/query", json={}), 400, "validation_error")
    assert any(e["field"].startswith("area") for e in p["errors"]), p
