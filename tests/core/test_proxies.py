"""The client's address behind reverse proxies: X-Forwarded-For is believed only from trusted peers."""

from __future__ import annotations

import pytest

from core.config import load_settings
from core.proxies import client_address, parse_trusted_proxies, server_believes_forwarded_for

LOCAL = parse_trusted_proxies("127.0.0.1")
NOBODY = parse_trusted_proxies("")


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("203.0.113.5", ["198.51.100.1"], NOBODY) == "203.0.113.5"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.5", ["198.51.100.1"], LOCAL) == "203.0.113.5"


def test_a_trusted_proxy_names_the_client_it_forwards() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], LOCAL) == "198.51.100.1"


def test_a_client_cannot_choose_its_address_by_sending_the_header_itself() -> None:
    # The client sent "1.2.3.4"; the proxy appended the address it saw, as its own header or after a comma.
    assert client_address("127.0.0.1", ["1.2.3.4", "198.51.100.1"], LOCAL) == "198.51.100.1"
    assert client_address("127.0.0.1", ["1.2.3.4, 198.51.100.1"], LOCAL) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop() -> None:
    trusted = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8")
    assert client_address("127.0.0.1", ["1.2.3.4, 198.51.100.1, 10.1.2.3"], trusted) == "198.51.100.1"


def test_a_proxy_outside_the_trusted_list_ends_the_walk_at_itself() -> None:
    # 192.0.2.9 is not trusted: what it claims about its own client is not believed.
    assert client_address("127.0.0.1", ["198.51.100.1, 192.0.2.9"], LOCAL) == "192.0.2.9"


def test_when_every_hop_is_trusted_the_leftmost_made_the_request() -> None:
    trusted = parse_trusted_proxies("10.0.0.0/8 127.0.0.1")
    assert client_address("127.0.0.1", ["10.0.0.7, 10.0.0.8"], trusted) == "10.0.0.7"


def test_a_trusted_proxy_without_the_header_is_the_client() -> None:
    assert client_address("127.0.0.1", [], LOCAL) == "127.0.0.1"


def test_garbage_in_the_header_is_not_an_address() -> None:
    assert client_address("127.0.0.1", ["unknown"], LOCAL) == "127.0.0.1"
    assert client_address("127.0.0.1", ["198.51.100.1, <script>"], LOCAL) == "127.0.0.1"
    assert client_address("127.0.0.1", [""], LOCAL) == "127.0.0.1"


def test_ports_brackets_and_mapped_addresses_are_read_as_proxies_write_them() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1:4711"], LOCAL) == "198.51.100.1"
    assert client_address("127.0.0.1", ["[2001:db8::1]:4711"], LOCAL) == "2001:db8::1"
    assert client_address("127.0.0.1", ["2001:db8::1"], LOCAL) == "2001:db8::1"
    assert client_address("::ffff:127.0.0.1", ["198.51.100.1"], LOCAL) == "198.51.100.1"


def test_ipv6_proxies_are_trusted_by_network() -> None:
    trusted = parse_trusted_proxies("::1, fd00::/8")
    assert client_address("fd00::5", ["198.51.100.1, ::1"], trusted) == "198.51.100.1"
    assert client_address("fe80::5", ["198.51.100.1"], trusted) == "fe80::5"


def test_an_unknown_peer_has_no_address() -> None:
    assert client_address(None, ["198.51.100.1"], LOCAL) is None
    assert client_address("not-an-ip", ["198.51.100.1"], LOCAL) is None


def test_an_endless_header_is_read_from_its_right_end_only() -> None:
    hops = ", ".join(["127.0.0.1"] * 100 + ["198.51.100.1"] + ["127.0.0.1"] * 5)
    assert client_address("127.0.0.1", [hops], LOCAL) == "198.51.100.1"
    assert client_address("127.0.0.1", [", ".join(["127.0.0.1"] * 100)], LOCAL) == "127.0.0.1"


def test_trusted_proxies_is_a_setting_that_refuses_what_is_not_an_address() -> None:
    assert load_settings(secrets={}, environ={}).trusted_proxies == ""
    assert load_settings(secrets={}, environ={"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}).trusted_proxies
    with pytest.raises(ValueError, match="TRUSTED_PROXIES.*'proxy.example.org'"):
        load_settings(secrets={}, environ={"TRUSTED_PROXIES": "127.0.0.1 proxy.example.org"})


def test_the_server_believes_the_header_unless_forwarded_allow_ips_is_empty() -> None:
    assert server_believes_forwarded_for({}) is True  # uvicorn's default trusts 127.0.0.1 and ::1
    assert server_believes_forwarded_for({"FORWARDED_ALLOW_IPS": "10.0.0.1"}) is True
    assert server_believes_forwarded_for({"FORWARDED_ALLOW_IPS": ""}) is False
