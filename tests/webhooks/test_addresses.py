"""The webhook address policy, pure: every spelling of an address read as a network stack reads
it, what each address is, and which ones a webhook may reach with and without private networks."""

from __future__ import annotations

import ipaddress

import pytest

from hotswap.webhooks import model as w
from hotswap.webhooks.addresses import Kind, Refused, canonical, check_address, check_host, kind_of, parse_address
from tests.webhooks.support import INTERNAL_SPELLINGS

METADATA = ipaddress.IPv4Address("169.254.169.254")

# Each spelling of 169.254.169.254 that an HTTP client connects to.
METADATA_SPELLINGS = [
    "169.254.169.254",
    "2852039166",  # one decimal number
    "0xa9fea9fe",  # one hexadecimal number
    "0xA9FEA9FE",
    "0251.0376.0251.0376",  # octal parts
    "0xa9.0xfe.0xa9.0xfe",
    "169.254.43518",  # three parts: the last fills two bytes
    "169.16689662",  # two parts: the last fills three bytes
    "0251.254.0xa9.254",  # mixed bases
    "169.254.169.254.",  # a final dot
    "::ffff:169.254.169.254",  # IPv4-mapped IPv6
    "::ffff:a9fe:a9fe",
    "[::ffff:a9fe:a9fe]",
    "::ffff:0:a9fe:a9fe",  # IPv4-translated IPv6
    "64:ff9b::a9fe:a9fe",  # NAT64
    "64:ff9b::169.254.169.254",
    "::a9fe:a9fe",  # IPv4-compatible IPv6
    "%31%36%39.254.169.254",  # percent-escaped, as browsers decode it
    "\uff11\uff16\uff19\uff0e\uff12\uff15\uff14\uff0e\uff11\uff16\uff19\uff0e\uff12\uff15\uff14",  # full width
]


@pytest.mark.parametrize("spelling", METADATA_SPELLINGS)
def test_every_spelling_of_the_metadata_address_reads_as_it(spelling: str) -> None:
    address = parse_address(spelling)
    assert address is not None
    assert canonical(address) == METADATA
    assert kind_of(address) is Kind.METADATA


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("0", "0.0.0.0"),  # noqa: S104 - addresses judged here, never bound
        ("0x0", "0.0.0.0"),  # noqa: S104
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("4294967295", "255.255.255.255"),
        ("8.8.8.8", "8.8.8.8"),
        ("::1", "::1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("::ffff:8.8.8.8", "8.8.8.8"),
        ("fe80::1%eth0", "fe80::1"),  # a zone does not change what the address is
        ("fe80::1%25eth0", "fe80::1"),
        ("2606:4700::1111", "2606:4700::1111"),
        ("::", "::"),
    ],
)
def test_short_and_embedded_forms_canonicalize(spelling: str, expected: str) -> None:
    address = parse_address(spelling)
    assert address is not None
    assert canonical(address) == ipaddress.ip_address(expected)


@pytest.mark.parametrize("name", ["hooks.example.com", "example", "1.2.3.example", "0x7f.example", "a..b", "1e3"])
def test_names_are_not_addresses(name: str) -> None:
    assert parse_address(name) is None


@pytest.mark.parametrize(
    "spelling", ["1.2.3.256", "256.1.1.1", "4294967296", "1.2.3.4.5", "08", "0x1.09", "::gg", "1:2"]
)
def test_numbers_that_are_no_address_are_refused(spelling: str) -> None:
    """Resolvers disagree on what these are (a name to look up, an error, an address): refused."""
    with pytest.raises(Refused) as caught:
        parse_address(spelling)
    assert caught.value.kind is Kind.INVALID


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", Kind.METADATA),
        ("169.254.170.2", Kind.METADATA),
        ("100.100.100.200", Kind.METADATA),
        ("168.63.129.16", Kind.METADATA),
        ("fd00:ec2::254", Kind.METADATA),
        ("169.254.0.1", Kind.LINK_LOCAL),
        ("fe80::1", Kind.LINK_LOCAL),
        ("0.0.0.0", Kind.UNSPECIFIED),  # noqa: S104
        ("0.1.2.3", Kind.UNSPECIFIED),
        ("::", Kind.UNSPECIFIED),
        ("127.0.0.1", Kind.LOOPBACK),
        ("127.255.0.9", Kind.LOOPBACK),
        ("::1", Kind.LOOPBACK),
        ("10.0.0.1", Kind.PRIVATE),
        ("172.16.0.1", Kind.PRIVATE),
        ("172.31.255.255", Kind.PRIVATE),
        ("192.168.1.1", Kind.PRIVATE),
        ("100.64.0.1", Kind.PRIVATE),
        ("100.127.255.254", Kind.PRIVATE),
        ("fc00::1", Kind.PRIVATE),
        ("fd12:3456::1", Kind.PRIVATE),
        ("224.0.0.1", Kind.MULTICAST),
        ("239.255.255.250", Kind.MULTICAST),
        ("ff02::1", Kind.MULTICAST),
        ("255.255.255.255", Kind.BROADCAST),
        ("240.0.0.1", Kind.RESERVED),
        ("192.0.2.1", Kind.RESERVED),
        ("2001:db8::1", Kind.RESERVED),
        ("64:ff9b:1::a00:1", Kind.RESERVED),  # local-use NAT64: the embedded address cannot be read
        ("100::1", Kind.RESERVED),
        ("2002:a9fe:a9fe::1", Kind.METADATA),  # 6to4 reaches through the IPv4 address it carries
        ("2002:a00:1::1", Kind.PRIVATE),
        ("2002:808:808::1", Kind.PUBLIC),
        ("8.8.8.8", Kind.PUBLIC),
        ("172.32.0.1", Kind.PUBLIC),
        ("100.128.0.1", Kind.PUBLIC),
        ("2606:4700::1111", Kind.PUBLIC),
        ("::ffff:a00:1", Kind.PRIVATE),
        ("64:ff9b::808:808", Kind.PUBLIC),
    ],
)
def test_what_each_address_is(address: str, kind: Kind) -> None:
    assert kind_of(ipaddress.ip_address(address)) is kind


@pytest.mark.parametrize(
    ("address", "private_allowed"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("fc00::1", True),
        ("169.254.169.254", False),
        ("100.100.100.200", False),  # in the CGNAT range, and still refused with private networks
        ("fd00:ec2::254", False),  # in fc00::/7, likewise
        ("169.254.1.1", False),
        ("0.0.0.0", False),  # noqa: S104
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
    ],
)
def test_only_private_and_loopback_addresses_follow_the_setting(address: str, private_allowed: bool) -> None:
    parsed = ipaddress.ip_address(address)
    with pytest.raises(Refused):
        check_address(parsed, allow_private=False)
    if private_allowed:
        check_address(parsed, allow_private=True)
    else:
        with pytest.raises(Refused):
            check_address(parsed, allow_private=True)


def test_a_public_address_is_never_refused() -> None:
    for address in ("8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"):
        check_address(ipaddress.ip_address(address), allow_private=False)


def test_a_refusal_names_what_the_spelling_really_is() -> None:
    with pytest.raises(Refused, match=r"^0x7f\.1, which is 127\.0\.0\.1, a loopback address \(set HOTSWAP_WEBHOOK"):
        check_host("0x7f.1", allow_private=False)
    with pytest.raises(Refused, match=r"^::ffff:a9fe:a9fe, which is 169\.254\.169\.254, a cloud metadata address$"):
        check_host("::ffff:a9fe:a9fe", allow_private=True)
    with pytest.raises(Refused, match=r"^2002:a9fe:a9fe::1, which carries 169\.254\.169\.254, a cloud metadata"):
        check_host("2002:a9fe:a9fe::1", allow_private=True)
    with pytest.raises(Refused, match=r"^169\.254\.169\.254, a cloud metadata address$"):
        check_host("169.254.169.254", allow_private=True)


@pytest.mark.parametrize(
    ("name", "refused_even_if_allowed"),
    [
        ("localhost", False),
        ("LOCALHOST.", False),
        ("hooks.localhost", False),
        ("ip6-localhost", False),
        ("metadata.google.internal", True),
        ("Metadata.", True),
        ("instance-data.ec2.internal", True),
    ],
)
def test_obviously_internal_names_are_refused_without_resolving(name: str, refused_even_if_allowed: bool) -> None:
    with pytest.raises(Refused):
        check_host(name, allow_private=False)
    if refused_even_if_allowed:
        with pytest.raises(Refused) as caught:
            check_host(name, allow_private=True)
        assert caught.value.kind is Kind.METADATA
    else:
        check_host(name, allow_private=True)


def test_other_names_pass_unresolved() -> None:
    """A name's addresses are checked where the connection is made, not at registration."""
    for name in ("hooks.example.com", "localhost.example.com", "metadata.example.com", "receiver.test"):
        check_host(name, allow_private=False)


# -- the URL rules the API applies -------------------------------------------------------------


@pytest.mark.parametrize("url", INTERNAL_SPELLINGS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_other_spellings_of_internal_addresses_are_refused(url: str, allow_private: bool) -> None:
    with pytest.raises(Refused, match=r"^must not point at "):
        w.check_url(url, allow_private=allow_private)


@pytest.mark.parametrize("url", ["https://hooks.example.com", "HTTPS://Hooks.Example.com/x?a=1#f", "http://8.8.8.8/"])
def test_public_urls_are_accepted(url: str) -> None:
    assert w.check_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hook",
        "http://[::1]:9/",
        "http://10.0.0.7/hook",
        "http://192.168.1.2:9000/",
        "http://127.0.0.1/",
        "http://127.1/",
        "http://100.64.0.1/",
        "http://[fd12::1]/",
    ],
)
def test_private_and_loopback_receivers_need_the_setting(url: str) -> None:
    with pytest.raises(Refused, match="HOTSWAP_WEBHOOK_ALLOW_PRIVATE_NETWORKS"):
        w.check_url(url, allow_private=False)
    assert w.check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://0.0.0.0:8080/",
        "http://224.0.0.1/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://Metadata./",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
    ],
)
def test_cloud_metadata_and_link_local_targets_are_refused_whatever_the_setting(url: str) -> None:
    with pytest.raises(ValueError, match="must not point at"):
        w.check_url(url, allow_private=True)


def test_a_numeric_host_that_is_no_address_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^must name a host or a valid address: 1\.2\.3\.256 is not a valid IPv4"):
        w.check_url("http://1.2.3.256/", allow_private=True)
