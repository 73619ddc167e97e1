"""Which network addresses a webhook may reach: every spelling of an address is read the way a
network stack reads it, reduced to the address it really names, then judged.

A URL's host can name one address in many spellings, and each one reaches the same machine:

- IPv4 as the C library's `inet_aton` and browsers read it: decimal, hexadecimal (`0x`) or octal
  (a leading `0`) parts, and fewer than four parts, the last filling the remaining bytes
  (`2852039166`, `0xA9FEA9FE`, `0251.0376.0251.0376`, `169.254.43518` and `169.254.169.254` are
  one address; `0` is `0.0.0.0`, `0x7f.1` is `127.0.0.1`);
- IPv6 that carries an IPv4 address the host then talks to: IPv4-mapped `::ffff:0:0/96`,
  IPv4-translated `::ffff:0:0:0/96`, the deprecated IPv4-compatible `::/96`, and the NAT64
  well-known prefix `64:ff9b::/96` (a translator forwards to the embedded address);
- percent-escapes and full-width characters, which browsers decode before reading the host.

An address is then one of the kinds below. Public ones may be reached. Private and loopback
ones only where the operator allows it (a setting), since a receiver inside the network is a
choice, not a default. Everything else is refused whatever the setting: cloud metadata services
(they hand out the instance's credentials, and the delivery log would show their answer),
link-local, unspecified (`0.0.0.0` reaches the local host), multicast, broadcast, and reserved or
documentation ranges nobody receives webhooks on. The tables are written out here rather than
taken from `ipaddress`'s `is_private`, whose ranges change between Python versions.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Kind(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    LOOPBACK = "loopback"
    METADATA = "metadata"
    LINK_LOCAL = "link-local"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    BROADCAST = "broadcast"
    RESERVED = "reserved"
    INVALID = "invalid"  # a host that looks like an address and is none

    @property
    def described(self) -> str:
        return _DESCRIBED[self]


_DESCRIBED = {
    Kind.PUBLIC: "a public address",
    Kind.PRIVATE: "a private address",
    Kind.LOOPBACK: "a loopback address",
    Kind.METADATA: "a cloud metadata address",
    Kind.LINK_LOCAL: "a link-local address",
    Kind.UNSPECIFIED: "an unspecified address",
    Kind.MULTICAST: "a multicast address",
    Kind.BROADCAST: "a broadcast address",
    Kind.RESERVED: "a reserved address",
    Kind.INVALID: "not a valid address",
}

# Reachable only where the operator allows private networks.
ALLOWED_WITH_SETTING = frozenset({Kind.PRIVATE, Kind.LOOPBACK})
SETTING = "HOTSWAP_WEBHOOK_ALLOW_PRIVATE_NETWORKS"


class Refused(ValueError):
    """A webhook target this policy refuses; `kind` names why in one word (a metric label)."""

    def __init__(self, message: str, kind: Kind) -> None:
        super().__init__(message)
        self.kind = kind


def _nets(kind: Kind, *cidrs: str) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Kind]]:
    return [(ipaddress.ip_network(c), kind) for c in cidrs]


# First match wins: a metadata address inside a private range is metadata.
_V4 = [
    # AWS, GCP, Azure, OpenStack, Oracle and DigitalOcean (169.254.169.254), AWS ECS task and EKS
    # pod credentials, Alibaba Cloud, Azure's host agent (a public address only its VMs reach).
    *_nets(Kind.METADATA, "169.254.169.254/32", "169.254.170.2/32", "169.254.170.23/32"),
    *_nets(Kind.METADATA, "100.100.100.200/32", "168.63.129.16/32", "192.0.0.192/32"),
    *_nets(Kind.UNSPECIFIED, "0.0.0.0/8"),  # "this network": a connection to it reaches the local host
    *_nets(Kind.LOOPBACK, "127.0.0.0/8"),
    *_nets(Kind.LINK_LOCAL, "169.254.0.0/16"),
    *_nets(Kind.PRIVATE, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15"),
    *_nets(Kind.RESERVED, "192.0.0.0/24", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "192.88.99.0/24"),
    *_nets(Kind.MULTICAST, "224.0.0.0/4"),
    *_nets(Kind.BROADCAST, "255.255.255.255/32"),
    *_nets(Kind.RESERVED, "240.0.0.0/4"),
]
_V6 = [
    *_nets(Kind.METADATA, "fd00:ec2::254/128", "fd00:ec2::23/128"),  # AWS's IPv6 metadata and EKS pod credentials
    *_nets(Kind.UNSPECIFIED, "::/128"),
    *_nets(Kind.LOOPBACK, "::1/128"),
    *_nets(Kind.LINK_LOCAL, "fe80::/10"),
    *_nets(Kind.MULTICAST, "ff00::/8"),
    *_nets(Kind.PRIVATE, "fc00::/7"),
    # Deprecated site-local; local-use NAT64, whose embedded IPv4 address sits where the
    # operator chose, so it cannot be read; IETF protocol assignments (Teredo among them);
    # documentation.
    *_nets(Kind.RESERVED, "fec0::/10", "64:ff9b:1::/48", "2001::/23", "2001:db8::/32", "3fff::/20"),
]
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")  # every other IPv6 range is unassigned or special
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
# IPv6 forms a host connects through to their last 32 bits, an IPv4 address.
_EMBEDDING = [
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated); `::` and `::1` are judged as IPv6
]
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # what IDNA reads as a dot
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)


def canonical(address: IPAddress) -> IPAddress:
    """The address a connection to `address` really reaches: the IPv4 one inside an IPv4-mapped,
    -translated, -compatible or NAT64 IPv6 address; any other address itself (an IPv6 zone dropped)."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    bare = ipaddress.IPv6Address(int(address))
    if int(bare) > 1 and any(bare in net for net in _EMBEDDING):
        return ipaddress.IPv4Address(int(bare) & 0xFFFFFFFF)
    return bare


def kind_of(address: IPAddress) -> Kind:
    """What `address` is, after `canonical`."""
    address = canonical(address)
    if isinstance(address, ipaddress.IPv4Address):
        return next((kind for net, kind in _V4 if address in net), Kind.PUBLIC)
    found = next((kind for net, kind in _V6 if address in net), None)
    if found is not None:
        return found
    if address not in _GLOBAL_UNICAST:
        return Kind.RESERVED
    carried = _six_to_four(address)
    return Kind.PUBLIC if carried is None else kind_of(carried)


def _six_to_four(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4 address is reached through (a tunnel may carry it there)."""
    if address not in _SIX_TO_FOUR:
        return None
    return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)


def refused(kind: Kind, *, allow_private: bool) -> bool:
    return kind is not Kind.PUBLIC and not (allow_private and kind in ALLOWED_WITH_SETTING)


def _hint(kind: Kind) -> str:
    return f" (set {SETTING}=true to allow it)" if kind in ALLOWED_WITH_SETTING else ""


def check_address(address: IPAddress, *, allow_private: bool, spelled: str | None = None) -> None:
    """Raise `Refused` unless `address` may be reached; the message names what it really is."""
    kind = kind_of(address)
    if not refused(kind, allow_private=allow_private):
        return
    real = canonical(address)
    written = spelled if spelled is not None else str(address)
    carried = _six_to_four(real) if isinstance(real, ipaddress.IPv6Address) else None
    if carried is not None:
        shown = f"{written}, which carries {carried},"
    else:
        shown = f"{real}," if written == str(real) else f"{written}, which is {real},"
    raise Refused(f"{shown} {kind.described}{_hint(kind)}", kind)


def normalize_host(host: str) -> str:
    """A URL host as browsers read it before anything else: percent-escapes decoded, full-width
    characters and IDNA dots folded to ASCII, lower case, without brackets or one final dot."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    text = unicodedata.normalize("NFKC", unquote(text)).translate(_FULL_STOPS).lower()
    return text[:-1] if text.endswith(".") and len(text) > 1 else text


def parse_address(host: str) -> IPAddress | None:
    """The address `host` spells (see the module's note), as the connection would use it (an
    IPv6 form is kept; `canonical` reads through it); None for a name. Raises `Refused` for a
    host written as numbers that is no address (`1.2.3.256`, `08`, five parts): resolvers
    disagree on what those are."""
    text = normalize_host(host)
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise Refused(f"{host} is not a valid IPv6 address", Kind.INVALID) from None
    labels = text.split(".")
    if not all(_NUMBER.fullmatch(label) for label in labels):
        return None
    try:
        return ipaddress.IPv4Address(_inet_aton(labels))
    except ValueError:
        raise Refused(f"{host} is not a valid IPv4 address", Kind.INVALID) from None


def _inet_aton(labels: list[str]) -> int:
    if len(labels) > 4:
        raise ValueError("more than four parts")
    numbers = [_part(label) for label in labels]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError("a part out of range")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return value


def _part(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)  # ValueError on an 8 or a 9
    return int(label)


def check_host(host: str, *, allow_private: bool) -> None:
    """Raise `Refused` for a host that is, or obviously names, an address that may not be
    reached. A name is not resolved here (its answer may change): the dispatcher checks every
    address a name resolves to, when it connects."""
    address = parse_address(host)
    if address is not None:
        check_address(address, allow_private=allow_private, spelled=host)
        return
    name = normalize_host(host)
    if name in METADATA_HOSTS:
        raise Refused(f"{name}, a cloud metadata host", Kind.METADATA)
    if (name in _NAMES or name.endswith(".localhost")) and not allow_private:
        raise Refused(f"{name}, a loopback name{_hint(Kind.LOOPBACK)}", Kind.LOOPBACK)
