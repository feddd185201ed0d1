"""Separation profiles and the notice period chosen in the server's TOML config file."""

from __future__ import annotations

import pytest

NM = 1852.0
FT = 0.3048

PROFILES = {
    # name: (horizontal m, vertical m)  -- DESIGN.md "Numbers"
    "en-route": (5 * NM, 1000 * FT),
    "terminal": (3 * NM, 1000 * FT),
    "rule-of-threes": (3 * NM, 3000 * FT),
    "drone": (0.66 * NM, 450 * FT),
}


@pytest.fixture(scope="module")
def configured(backend, _module_servers, api_for):
    """Start (once per module and backend) a server with this TOML config; returns its API."""
    started: dict[str, tuple] = {}

    def start(config: str):
        if config not in started:
            srv = _module_servers.start(backend, config=config or None)  # "": no --config
            started[config] = (srv, api_for(srv))
        return started[config][1]

    yield start
    for srv, a in started.values():
        a.close()
        srv.stop()
        _module_servers.databases.drop(srv.db)


def _check_minima(api, geo, fresh_area, h: float, v: float) -> None:
    # Horizontal: 0.9 H apart conflict, 1.1 H apart do not.
    fa, fb = geo.facing_diamonds(fresh_area(), 0.9 * h, 90.0)
    api.create_op("blue", [geo.volume(fa)])
    api.problem(api.post_op("red", [geo.volume(fb)]), 409, "conflict")
    fa, fb = geo.facing_diamonds(fresh_area(), 1.1 * h, 90.0)
    api.create_op("blue", [geo.volume(fa)])
    api.create_op("red", [geo.volume(fb)])
    # Vertical: 0.9 V apart conflict, 1.1 V apart do not (same footprint).
    fp = geo.square(fresh_area())
    api.create_op("blue", [geo.volume(fp, 100, 200)])
    api.problem(api.post_op("red", [geo.volume(fp, 200 + 0.9 * v, 3000)]), 409, "conflict")
    api.create_op("red", [geo.volume(fp, 200 + 1.1 * v, 3000)])


@pytest.mark.parametrize("profile", ["terminal", "rule-of-threes", "drone"])
def test_named_profile(configured, geo, fresh_area, profile):
    api = configured(f'separation_profile = "{profile}"\n')
    h, v = PROFILES[profile]
    _check_minima(api, geo, fresh_area, h, v)


def test_rule_of_threes(configured, geo, area, fresh_area):
    api = configured('separation_profile = "rule-of-threes"\n')
    fp = geo.square(area)
    # Bands 2000 ft apart conflict under rule-of-threes (they would not under en-route).
    api.create_op("blue", [geo.volume(fp, 100, 200)])
    api.problem(api.post_op("red", [geo.volume(fp, 200 + 2000 * FT, 2000)]), 409, "conflict")
    # 3000 ft is the minimum: 3100 ft apart is clear.
    api.create_op("red", [geo.volume(fp, 200 + 3100 * FT, 2000)])
    # Horizontally 3 NM: 6 km apart is clear here (it would conflict under en-route).
    fa, fb = geo.facing_diamonds(fresh_area(), 6000.0, 0.0)
    api.create_op("blue", [geo.volume(fa)])
    api.create_op("red", [geo.volume(fb)])


def test_custom_profile_and_notice_period(configured, geo, fresh_area):
    api = configured(
        'separation_profile = "tight"\n'
        "notice_period_s = 600\n"
        "\n"
        "[profiles.tight]\n"
        "horizontal_m = 1000\n"
        "vertical_m = 100\n"
        "look_ahead_s = 60\n"
    )
    _check_minima(api, geo, fresh_area, 1000.0, 100.0)
    # Notice period 600 s: 15 minutes ahead is not short notice, 5 minutes ahead is.
    fp = geo.square(fresh_area())
    a = api.create_op("blue", [geo.volume(fp, 1000, 2000, 900, 3600)])
    assert a["short_notice"] is False
    b = api.create_op("blue", [geo.volume(geo.square(fresh_area()), 1000, 2000, 300, 3600)])
    assert b["short_notice"] is True
    # And a short-notice conflict is refused.
    api.problem(api.post_op("red", [geo.volume(fp, 1000, 2000, 300, 3600)], priority=5,
                            key=[a["ovn"]]), 409, "short_notice")


def test_default_profile_is_en_route(configured, geo, fresh_area):
    api = configured("")  # no --config at all: the defaults
    _check_minima(api, geo, fresh_area, *PROFILES["en-route"])
    # Default notice period: 3600 s.
    fp = geo.square(fresh_area())
    assert api.create_op("blue", [geo.volume(fp, 1000, 2000, 3000, 7200)])["short_notice"] is True
    assert api.create_op("blue", [geo.volume(fp, 3000, 4000, 3800, 7200)])["short_notice"] is False
