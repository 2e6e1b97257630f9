"""The chassis' hardening: who the client is, which request ids are echoed, file modes."""

from __future__ import annotations

from typing import Any

import pytest

from emporium.chassis import ChassisSettings
from emporium.chassis.forwarded import TrustedProxies
from emporium.chassis.middleware import acceptable_request_id


def scope(peer: str, *headers: tuple[bytes, bytes], scheme: str = "http") -> dict[str, Any]:
    return {"type": "http", "client": (peer, 1234), "scheme": scheme, "headers": list(headers)}


def test_forwarding_headers_are_ignored_when_no_proxy_is_trusted() -> None:
    request = scope("127.0.0.1", (b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https"))
    peer = TrustedProxies().resolve(request)
    assert (peer.address, peer.scheme) == ("127.0.0.1", "http")


def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    request = scope("192.0.2.1", (b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https"))
    peer = TrustedProxies(["10.0.0.0/8"]).resolve(request)
    assert (peer.address, peer.scheme) == ("192.0.2.1", "http")


def test_a_trusted_proxy_yields_the_rightmost_address_it_does_not_trust() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "2001:db8::/32"])
    request = scope(
        "10.0.0.5",
        (b"x-forwarded-for", b"6.6.6.6, 203.0.113.7"),
        (b"x-forwarded-for", b"10.1.1.1"),
        (b"x-forwarded-proto", b"https"),
    )
    peer = proxies.resolve(request)
    assert (peer.address, peer.scheme) == ("203.0.113.7", "https")
    assert proxies.resolve(scope("2001:db8::1", (b"x-forwarded-for", b"198.51.100.1"))).address == (
        "198.51.100.1"
    )


def test_a_chain_of_only_trusted_proxies_yields_its_leftmost_hop() -> None:
    request = scope("10.0.0.5", (b"x-forwarded-for", b"10.0.0.9, 10.0.0.8"))
    assert TrustedProxies(["10.0.0.0/8"]).resolve(request).address == "10.0.0.9"


def test_an_unknown_forwarded_proto_is_ignored() -> None:
    request = scope("10.0.0.5", (b"x-forwarded-proto", b"gopher"))
    assert TrustedProxies(["10.0.0.5"]).resolve(request).scheme == "http"


def test_trusted_proxies_setting_takes_a_comma_separated_cidr_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ChassisSettings().trusted_proxies == []
    monkeypatch.setenv("EMPORIUM_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    assert ChassisSettings().trusted_proxies == ["10.0.0.0/8", "192.0.2.7"]
    monkeypatch.setenv("EMPORIUM_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValueError, match="EMPORIUM_TRUSTED_PROXIES"):
        ChassisSettings()


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("abc-123_X.y", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("a b", False),
        ("a\r\nset-cookie: x", False),
        ("é", False),
        (None, False),
    ],
)
def test_only_short_plain_request_ids_are_kept(value: str | None, kept: bool) -> None:
    assert acceptable_request_id(value) == (value if kept else None)
