"""Need-to-know: the owner and observers see an operation's full view; other operators and
authorities see exactly id, owner, volumes, priority, state, ovn, short_notice."""

from __future__ import annotations

import pytest

FULL = {"blue", "watch"}
RESTRICTED = {"red", "mission", "spare"}


@pytest.fixture
def secret_op(api, geo, area):
    return api.create_op("blue", [geo.volume(geo.square(area))], priority=2,
                         callsigns=["VIPER01", "VIPER02"], notes="strike package, do not share")


def _check(view: dict, party: str, op: dict, geo) -> None:
    if party in FULL:
        assert set(view) == geo.FULL_VIEW_KEYS, (party, sorted(view))
        assert view["callsigns"] == ["VIPER01", "VIPER02"]
        assert view["notes"] == "strike package, do not share"
        assert view["created_at"] == op["created_at"]
    else:
        assert set(view) == geo.RESTRICTED_VIEW_KEYS, (party, sorted(view))
        assert "VIPER" not in str(view) and "strike" not in str(view)
    for k in geo.RESTRICTED_VIEW_KEYS:
        assert view[k] == op[k], (party, k)


@pytest.mark.parametrize("party", ["blue", "watch", "red", "mission", "spare"])
def test_get(api, geo, secret_op, party):
    _check(api.get_op(party, secret_op["id"]), party, secret_op, geo)


@pytest.mark.parametrize("party", ["blue", "watch", "red", "mission"])
def test_list(api, geo, secret_op, party):
    views = [o for o in api.list_ops(party) if o["id"] == secret_op["id"]]
    assert len(views) == 1
    _check(views[0], party, secret_op, geo)


@pytest.mark.parametrize("party", ["blue", "watch", "red", "mission"])
def test_query(api, geo, area, secret_op, party):
    views = [o for o in api.query(party, geo.area4d(geo.square(area, 2000)))
             if o["id"] == secret_op["id"]]
    assert len(views) == 1
    _check(views[0], party, secret_op, geo)


def test_replace_keeps_need_to_know(api, geo, area, secret_op):
    new = api.expect(api.put_op("blue", secret_op["id"], secret_op["ovn"],
                                [geo.volume(geo.square(area), 2000, 3000)], priority=2,
                                callsigns=["VIPER01", "VIPER02"],
                                notes="strike package, do not share"), 200)
    assert set(new) == geo.FULL_VIEW_KEYS | {"receipt"}  # a write's view carries its receipt
    for party in ("red", "mission"):
        v = api.get_op(party, secret_op["id"])
        assert set(v) == geo.RESTRICTED_VIEW_KEYS
        assert v["ovn"] == new["ovn"]
    assert set(api.get_op("watch", secret_op["id"])) == geo.FULL_VIEW_KEYS


def test_other_operators_own_operations_are_full_for_them(api, geo, area):
    op = api.create_op("red", [geo.volume(geo.square(area))], callsigns=["R1"], notes="red's")
    assert set(api.get_op("red", op["id"])) == geo.FULL_VIEW_KEYS
    assert set(api.get_op("blue", op["id"])) == geo.RESTRICTED_VIEW_KEYS
    assert set(api.get_op("watch", op["id"])) == geo.FULL_VIEW_KEYS


def test_conflict_details_do_not_leak_private_fields(api, geo, area, secret_op):
    r = api.post_op("red", [geo.volume(geo.square(area))], priority=0)
    p = api.problem(r, 409, "conflict")
    assert "VIPER" not in r.text and "strike package" not in r.text, p
