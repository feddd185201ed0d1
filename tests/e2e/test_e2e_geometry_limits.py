"""``footprint_complexity`` end to end on the default server: the jagged comb of issue 13
(999 positions, teeth 11 km tall) is refused with a 400 naming the limit and its value on
declarations, dry runs and constraints, nothing stored; a comb just under the limit is
declared, and a second one interleaved with it is found in conflict."""

from __future__ import annotations

from typing import Any

from deconfliction.model.limits import Limits

LIMIT = Limits().footprint_complexity


def comb(centre: tuple[float, float], positions: int, height: float,
         shift: tuple[float, float] = (0.0, 0.0)) -> dict:
    """A straight base and a top edge of ``positions - 3`` teeth 0.2° wide in all, alternating
    ``height`` and 2 % of it (bench/hostile.py's zig-zag)."""
    lon, lat = centre[0] - 0.1 + shift[0], centre[1] - 0.05 + shift[1]
    teeth = positions - 3
    top = [[round(lon + 0.2 * i / (teeth - 1), 7), round(lat + (height if i % 2 else height
                                                                 * 0.02), 7)]
           for i in range(teeth)]
    ring = [[lon, lat - 0.001], [lon + 0.2, lat - 0.001], *top[::-1]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _refused(api: Any, resp: Any) -> None:
    p = api.problem(resp, 400, "limit_exceeded")
    assert (p["limit"], p["value"]) == ("footprint_complexity", LIMIT), p
    assert str(LIMIT) in p["detail"]


def test_the_comb_of_issue_13_is_refused_naming_the_limit(api, geo, area):
    volumes = [geo.volume(comb(area, 999, 0.1))]
    constraints = api.constraint_ids()
    _refused(api, api.post_op("blue", volumes))
    _refused(api, api.blue.post("/v1/operations/check", json=api.op_body(volumes)))
    _refused(api, api.post_constraint(volumes))
    assert not api.query("watch", geo.area4d(geo.square(area, 30_000)))
    assert api.constraint_ids() == constraints


def test_a_comb_just_under_the_limit_is_declared_and_its_pair_found(api, geo, area):
    stored = api.create_op("blue", [geo.volume(comb(area, 999, 0.012))], priority=5)
    over = [geo.volume(comb(area, 999, 0.012, shift=(0.0001, 0.004)))]
    answer = api.expect(api.red.post("/v1/operations/check", json=api.op_body(over)), 200)
    assert answer["acceptable"] is False and answer["refusal"]["code"] == "conflict", answer
    assert [c["operation_id"] for c in answer["refusal"]["conflicts"]] == [stored["id"]]
