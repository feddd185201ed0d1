"""HTTP access to a running server as each party, with the contract's checks: any 5xx fails the
test at once ("never a 500"); problems must be RFC 9457 with the project's ``type``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from support.server import Server

HTTP_TIMEOUT_S = 30.0


def _no_server_errors(response: httpx.Response) -> None:
    if response.status_code >= 500:
        response.read()
        req = response.request
        body = req.content[:2000] if req.content else b""
        raise AssertionError(
            f"server error {response.status_code} (the contract says never a 500) for "
            f"{req.method} {req.url}\nrequest body: {body!r}\nresponse: {response.text[:2000]}"
        )


def _fmt(resp: httpx.Response) -> str:
    req = resp.request
    body = req.content.decode(errors="replace") if req.content else ""
    if len(body) > 3000:
        body = body[:3000] + "...(truncated)"
    return (
        f"{req.method} {req.url} -> {resp.status_code}\nrequest: {body}\n"
        f"response ({resp.headers.get('content-type')}): {resp.text[:4000]}"
    )


class API:
    """HTTP access to one server as each party, plus contract-level helpers."""

    def __init__(self, srv: Server):
        self.server = srv
        self.tokens = srv.tokens
        self._clients: list[httpx.Client] = []
        self.anon = self._client(None)
        self.blue = self.client("blue")
        self.red = self.client("red")
        self.mission = self.client("mission")
        self.watch = self.client("watch")
        self.spare = self.client("spare")

    def _client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        c = httpx.Client(
            base_url=self.server.base_url, headers=headers, timeout=HTTP_TIMEOUT_S,
            event_hooks={"response": [_no_server_errors]},
        )
        self._clients.append(c)
        return c

    def client(self, party: str) -> httpx.Client:
        return self._client(self.tokens[party])

    def with_token(self, token: str) -> httpx.Client:
        return self._client(token)

    def as_(self, party: str) -> httpx.Client:
        return getattr(self, party)

    def close(self) -> None:
        for c in self._clients:
            c.close()

    # -- assertions ---------------------------------------------------------------------------

    @staticmethod
    def expect(resp: httpx.Response, status: int) -> Any:
        if resp.status_code != status:
            pytest.fail(f"expected HTTP {status}\n{_fmt(resp)}", pytrace=True)
        return resp.json()

    @staticmethod
    def problem(resp: httpx.Response, status: int, code: str | None = None) -> dict:
        """Assert an RFC 9457 problem with this status (and code) and return it."""
        if resp.status_code != status:
            pytest.fail(f"expected problem HTTP {status} {code or ''}\n{_fmt(resp)}")
        ctype = resp.headers.get("content-type", "")
        assert ctype.split(";")[0].strip() == "application/problem+json", (
            f"problem content type must be application/problem+json\n{_fmt(resp)}"
        )
        body = resp.json()
        assert isinstance(body, dict), _fmt(resp)
        assert body.get("status") == status, f"problem 'status' must be {status}\n{_fmt(resp)}"
        assert isinstance(body.get("title"), str) and body["title"], f"no title\n{_fmt(resp)}"
        assert isinstance(body.get("detail"), str), f"no detail\n{_fmt(resp)}"
        got_code = body.get("code")
        assert isinstance(got_code, str) and got_code, f"no code\n{_fmt(resp)}"
        assert body.get("type") == f"urn:deconfliction:problem:{got_code}", (
            f"type must be urn:deconfliction:problem:<code>\n{_fmt(resp)}"
        )
        if code is not None:
            assert got_code == code, f"expected code {code!r}, got {got_code!r}\n{_fmt(resp)}"
        return body

    # -- operations ---------------------------------------------------------------------------

    @staticmethod
    def op_body(volumes: list[dict], *, priority: int = 0, state: str = "accepted",
                key: list[str] | None = None, **extra: Any) -> dict:
        body: dict[str, Any] = {"volumes": volumes, "priority": priority, "state": state}
        if key is not None:
            body["key"] = key
        body.update(extra)
        return body

    def post_op(self, party: str, volumes: list[dict], **kw: Any) -> httpx.Response:
        return self.as_(party).post("/v1/operations", json=self.op_body(volumes, **kw))

    def create_op(self, party: str, volumes: list[dict], **kw: Any) -> dict:
        """Create an operation and assert 201; returns the view."""
        return self.expect(self.post_op(party, volumes, **kw), 201)

    def put_op(self, party: str, op_id: str, ovn: str, volumes: list[dict],
               **kw: Any) -> httpx.Response:
        body = {"callsigns": [], "notes": "", **self.op_body(volumes, **kw)}  # PUT: every field
        body["ovn"] = ovn
        return self.as_(party).put(f"/v1/operations/{op_id}", json=body)

    def get_op(self, party: str, op_id: str) -> dict:
        return self.expect(self.as_(party).get(f"/v1/operations/{op_id}"), 200)

    def list_ops(self, party: str = "watch") -> list[dict]:
        return self.list_all(party, "/v1/operations", "operations")

    def list_all(self, party: str, path: str, items: str) -> list[dict]:
        """Every item of a list, following ``next`` page after page."""
        found: list[dict] = []
        params: dict[str, str] = {}
        while True:
            body = self.expect(self.as_(party).get(path, params=params), 200)
            assert isinstance(body.get(items), list), body
            found.extend(body[items])
            if body.get("next") is None:
                return found
            params = {"cursor": body["next"]}

    def op_ids(self, party: str = "watch") -> set[str]:
        return {op["id"] for op in self.list_ops(party)}

    def query(self, party: str, area: dict) -> list[dict]:
        body = self.expect(self.as_(party).post("/v1/operations/query", json={"area": area}), 200)
        assert isinstance(body.get("operations"), list), body
        return body["operations"]

    # -- constraints --------------------------------------------------------------------------

    def post_constraint(self, volumes: list[dict], *, kind: str = "no_fly",
                        applies_to: Any = "all", exempt: list[str] | None = None,
                        name: str = "test constraint", party: str = "mission") -> httpx.Response:
        return self.as_(party).post("/v1/constraints", json={
            "kind": kind, "volumes": volumes, "applies_to": applies_to,
            "exempt": exempt or [], "name": name,
        })

    def create_constraint(self, volumes: list[dict], **kw: Any) -> dict:
        return self.expect(self.post_constraint(volumes, **kw), 201)

    def constraint_ids(self, party: str = "watch") -> set[str]:
        return {c["id"] for c in self.list_all(party, "/v1/constraints", "constraints")}

    # -- events -------------------------------------------------------------------------------

    def events(self, party: str) -> list[dict]:
        """All of a party's events, paging with after=<last seq>."""
        out: list[dict] = []
        after = 0
        for _ in range(1000):
            body = self.expect(
                self.as_(party).get("/v1/events", params={"after": after, "limit": 100}), 200
            )
            page = body.get("events")
            assert isinstance(page, list), body
            if not page:
                break
            out.extend(page)
            seqs = [e["seq"] for e in page]
            assert seqs == sorted(seqs) and seqs[0] > after, f"events out of order: {seqs}"
            after = seqs[-1]
            if len(page) < 100:
                break
        return out

    def wait_for_event(self, party: str, predicate, timeout_s: float = 8.0) -> dict | None:
        deadline = time.monotonic() + timeout_s
        while True:
            for ev in self.events(party):
                if predicate(ev):
                    return ev
            if time.monotonic() > deadline:
                return None
            time.sleep(0.25)
