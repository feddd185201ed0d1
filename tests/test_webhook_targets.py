"""Where a webhook may point, and what a delivery reads and tells, at the service level: the
address policy over every kind of non-public address (IPv4 inside IPv6 too), names resolved
by a fake resolver (public at registration, private at delivery: refused, no connection made),
the POST sent to the checked address with the name kept for Host and TLS, answers read only
up to the limit (an endless body), and failures reported as categories, never as text."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_network
from typing import Any, cast

import httpx
import pytest

from deconfliction.model.event import Event
from deconfliction.model.limits import Limits
from deconfliction.model.party import Role
from deconfliction.model.webhook import Webhook
from deconfliction.service import parties, webhooks
from deconfliction.service.errors import NotFound, ValidationFailed
from deconfliction.service.line import Line, LineSettings
from deconfliction.service.webhook_targets import (
    IPAddress,
    TargetRefused,
    check_target,
    why_not_public,
)

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0
SECRET = "s3cret-s3cret-s3cret"
PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(("address", "category"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.0.1", "private"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("169.254.10.1", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("192.0.2.1", "private"), ("240.0.0.1", "private"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"), ("::127.0.0.1", "loopback"),
    ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo, client 192.0.2.45
    (PUBLIC, None), ("8.8.8.8", None), ("2606:4700:4700::1111", None),
    ("::ffff:8.8.8.8", None),
])
def test_address_policy(address: str, category: str | None) -> None:
    assert why_not_public(ip_address(address)) == category


def test_allowed_networks_open_only_themselves() -> None:
    allow = [ip_network("127.0.0.1/32"), ip_network("10.8.0.0/16")]
    assert why_not_public(ip_address("127.0.0.1"), allow) is None
    assert why_not_public(ip_address("::ffff:127.0.0.1"), allow) is None
    assert why_not_public(ip_address("10.8.3.4"), allow) is None
    assert why_not_public(ip_address("127.0.0.2"), allow) == "loopback"
    assert why_not_public(ip_address("10.9.0.1"), allow) == "private"
    assert why_not_public(ip_address("169.254.169.254"), allow) == "cloud metadata"


class Resolver:
    """A fake DNS: names to addresses, changed by the test between calls."""

    def __init__(self, **names: list[str]) -> None:
        self.names = {k.replace("_", "."): v for k, v in names.items()}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:  # noqa: ARG002
        self.asked.append(host)
        try:
            return [ip_address(host)]
        except ValueError:
            pass
        if host not in self.names:
            raise OSError("name or service not known")
        return [ip_address(a) for a in self.names[host]]


async def test_a_name_is_judged_by_every_address_it_has() -> None:
    dns = Resolver(**{"hooks_example": [PUBLIC], "split_example": [PUBLIC, "10.0.0.7"],
                      "empty_example": []})
    target = await check_target("https://hooks.example:8443/x", (), dns)
    assert (target.host, target.port, str(target.address)) == ("hooks.example", 8443, PUBLIC)
    for url, reason in (("http://split.example/x", "not_public"),
                        ("http://empty.example/x", "not_public"),
                        ("http://nowhere.example/x", "not_public"),
                        ("http://[::ffff:7f00:1]/x", "not_public")):
        with pytest.raises(TargetRefused) as refused:
            await check_target(url, (), dns)
        assert refused.value.reason == reason
        assert "10.0.0.7" not in refused.value.detail  # never the address a name hides
        if "[" not in url:  # a name: resolving inward or not at all reads the same
            assert refused.value.detail == url.split("/")[2] + (
                " does not resolve to public addresses only; webhooks may only reach public "
                "addresses")


def _line(store: Any, dns: Resolver, **limits: Any) -> Line:
    return Line(store, LineSettings(limits=Limits(**limits)), clock=lambda: T0, resolve=dns)


async def test_registration_refuses_non_public_targets_and_stores_nothing(store) -> None:
    dns = Resolver(inside_example=["10.1.2.3"], hooks_example=[PUBLIC])
    line = _line(store, dns)
    party, _token = await parties.add_party(line, "blue", Role.OPERATOR, T0)
    for url in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest/meta-data",
                "http://[::1]/x", "http://inside.example/x", "http://nowhere.example/x",
                "http://[::ffff:10.0.0.1]/x"):
        with pytest.raises(ValidationFailed) as failed:
            await webhooks.set_webhook(line, party, url, SECRET, T0)
        assert [e.field for e in failed.value.errors] == ["url"], url
        with pytest.raises(NotFound):
            await webhooks.get_webhook(line, party)
    state = await webhooks.set_webhook(line, party, "https://hooks.example/x", SECRET, T0)
    assert state.webhook.url == "https://hooks.example/x"


def _hook(url: str) -> Webhook:
    return Webhook("blue", url, SECRET, T0, T0)


EVENT = Event("blue", 7, "message.received", T0, {"id": "m1", "from": "red"})


async def test_delivery_checks_again_and_connects_to_the_checked_address() -> None:
    dns = Resolver(hooks_example=[PUBLIC])
    line = _line(cast(Any, None), dns)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        hook = _hook("https://hooks.example:8443/in?k=1")
        assert await webhooks._post(line, client, hook, EVENT) is None
        request = seen[-1]
        assert (request.url.host, request.url.port, request.url.path) == (PUBLIC, 8443, "/in")
        assert request.headers["host"] == "hooks.example:8443"
        assert request.extensions["sni_hostname"] == "hooks.example"
        assert request.headers["x-deconfliction-seq"] == "7"
        dns.names["hooks.example"] = ["192.168.1.20"]  # DNS changed since registration
        assert await webhooks._post(line, client, hook, EVENT) == "not_public"
        assert len(seen) == 1  # no connection was made
        del dns.names["hooks.example"]  # no longer resolves: the same category
        assert await webhooks._post(line, client, hook, EVENT) == "not_public"


async def test_an_endless_answer_is_read_only_up_to_the_limit() -> None:
    line = _line(cast(Any, None), Resolver(), webhook_response_bytes=4096)
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while True:
            produced += 1024
            yield b"x" * 1024

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        assert await webhooks._post(line, client, _hook(f"http://{PUBLIC}/x"), EVENT) is None
    assert produced <= 8 * 1024


@pytest.mark.parametrize(("failure", "category"), [
    (httpx.Response(500), "http_status_500"),
    (httpx.Response(301, headers={"Location": "http://127.0.0.1/"}), "http_status_301"),
    (httpx.ConnectError("[Errno 111] Connection refused to 10.0.0.1:6379"), "connect"),
    (httpx.ReadTimeout("timed out reading from 10.0.0.1"), "timeout"),
    (httpx.RemoteProtocolError("illegal status line: b'SSH-2.0-OpenSSH_9.2'"), "protocol"),
])
async def test_failures_are_categories_never_text(failure: Any, category: str) -> None:
    line = _line(cast(Any, None), Resolver())

    def answer(_request: httpx.Request) -> httpx.Response:
        if isinstance(failure, Exception):
            raise failure
        return cast(httpx.Response, failure)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        assert await webhooks._post(line, client, _hook(f"http://{PUBLIC}/x"), EVENT) == category


@pytest.mark.parametrize(("cause", "category"), [
    (ConnectionRefusedError(111, "Connection refused"), "refused"),
    (ssl.SSLCertVerificationError("certificate verify failed: Hostname mismatch"), "tls"),
    (ConnectionResetError(104, "Connection reset by peer"), "reset"),
])
async def test_the_cause_of_a_connection_failure_names_its_category(
        cause: Exception, category: str) -> None:
    line = _line(cast(Any, None), Resolver())

    def answer(_request: httpx.Request) -> httpx.Response:
        try:
            raise cause
        except Exception as error:
            raise httpx.ConnectError(str(error)) from error

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        assert await webhooks._post(line, client, _hook(f"http://{PUBLIC}/x"), EVENT) == category
