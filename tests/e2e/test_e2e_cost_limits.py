"""What a request may cost, end to end on the default server.

``footprint_complexity``: the jagged comb of issue 13 (999 positions, teeth 11 km tall) is
refused with a 400 naming the limit and its value on declarations, dry runs and constraints,
nothing stored; a comb just under the limit is declared, and a second one interleaved with it
is found in conflict. ``body_bytes`` before the body is read: a Content-Length over it is
answered at once (the body never sent), a chunked body as soon as it passes the limit.
"""

from __future__ import annotations

import json
import socket
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


def _head(server, token: str, framing: str) -> bytes:
    return (f"POST /v1/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
            f"\r\nContent-Type: application/json\r\n{framing}\r\n\r\n").encode()


def _answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        more = sock.recv(65536)
        if not more:
            break
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body[body.index(b"{"):body.rindex(b"}") + 1])


def test_a_declared_length_over_body_bytes_is_refused_before_any_byte_of_it(server):
    limit = Limits().body_bytes
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head(server, server.tokens["watch"], f"Content-Length: {limit + 1}"))
        status, problem = _answer(sock)  # nothing of the body was sent
    assert status == 413 and (problem["limit"], problem["value"]) == ("body_bytes", limit)


def test_a_chunked_body_is_refused_once_past_body_bytes(server):
    limit = Limits().body_bytes
    chunk = b"[" + b"0," * 32_767 + b"0"  # 64 KiB of a JSON array
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head(server, server.tokens["watch"], "Transfer-Encoding: chunked"))
        sent = 0
        while sent <= limit:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        # the body is not finished (no last chunk): only the limit can have answered
        status, problem = _answer(sock)
    assert status == 413 and (problem["limit"], problem["value"]) == ("body_bytes", limit)


def test_large_bodies_validated_off_the_loop_are_refused_alike(api, geo, area):
    """Over 64 KiB a body is validated on a worker thread: the same problem as the same body
    small (padding is whitespace), after authentication as before."""
    bad = geo.volume(geo.square(area))
    bad["altitude_lower_m"] = "high"
    body = {"volumes": [bad, geo.volume(geo.square(area))], "priority": "x"}
    small = json.dumps(body).encode()
    large = json.dumps(body, indent=2).encode() + b" " * 70_000
    for path in ("/v1/operations", "/v1/operations/check", "/v1/constraints"):
        party = api.mission if path == "/v1/constraints" else api.blue
        answers = [party.post(path, content=raw, headers={"Content-Type": "application/json"})
                   for raw in (small, large)]
        assert answers[0].status_code == 400, answers[0].text
        assert answers[1].json() == answers[0].json()
        anonymous = api.anon.post(path, content=large,
                                  headers={"Content-Type": "application/json"})
        api.problem(anonymous, 401)
    many = json.dumps({"volumes": [geo.volume(geo.square(area))] * 3000}).encode()
    p = api.problem(api.blue.post("/v1/operations", content=many,
                                  headers={"Content-Type": "application/json"}), 400)
    assert p["errors"][0]["field"] == "volumes", p
