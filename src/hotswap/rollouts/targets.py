"""Which of a deployment's named game servers (`targetInstances`) it can reach.

A named server counts only when the fleet knows it (a registered server, in its region) and some
step of the plan can expose it (its region is inside the deployment's target regions, if any).
The others are counted by no step, their metric samples are refused, and a server outside the
target regions is never exposed at all. A deployment that can reach none of its named servers
would roll out to nobody while every step says "0 servers", so it is refused, saying why for each
server; one that reaches some goes ahead, and its view warns about the others. Servers register,
move and leave, so the view judges this again at each read.

Pure: the caller reads which of the servers are registered, and in which region, from the fleet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hotswap.core.errors import FieldError, InvalidInput
from hotswap.rollouts.model import Plan, Unit

FIELD = "targetInstances"
UNREGISTERED = "unregistered-instances"
OUTSIDE_REGIONS = "instances-outside-regions"
_NAMED = 20  # how many servers a message names


@dataclass(frozen=True, slots=True)
class TargetReach:
    """The named servers sorted by why they are (not) reached, each in the request's order."""

    targets: tuple[str, ...]
    unregistered: tuple[str, ...]  # the fleet does not know them
    outside: tuple[tuple[str, str], ...]  # (server, its region): registered, but no step can expose it
    regions: tuple[str, ...]  # the regions its steps are limited to, named when a target is outside them

    @property
    def reaches_none(self) -> bool:
        return bool(self.targets) and len(self.unregistered) + len(self.outside) == len(self.targets)


@dataclass(frozen=True, slots=True)
class TargetWarning:
    code: str
    message: str
    instances: tuple[str, ...]


def reach(plan: Plan, targets: Sequence[str], registered: Mapping[str, str]) -> TargetReach:
    """Sort `targets` by whether `plan` can reach them; `registered` maps each registered server
    to its region (the others are absent; servers the deployment does not name may be there)."""
    unregistered = tuple(t for t in targets if t not in registered)
    outside = tuple(
        (t, registered[t]) for t in targets if t in registered and not plan.can_reach(Unit(t, registered[t]))
    )
    limits = {region for step in plan.steps for grant in step.exposure for region in grant.regions or ()}
    return TargetReach(tuple(targets), unregistered, outside, tuple(sorted(limits)))


def check_reachable(found: TargetReach) -> None:
    """InvalidInput (a 422 on body.targetInstances) when the deployment can reach none of its
    named servers, naming each with why (not registered, or registered outside the target
    regions) and what to do about it."""
    if not found.reaches_none:
        return
    if not found.outside:
        title = "No target instance is registered"
        message = (
            f"none of them is a registered game server ({_listed(found.unregistered)}); register them first "
            f"(POST /api/v1/servers), or leave out {FIELD} to roll out over the servers that are registered"
        )
    else:
        title = "No target instance can be reached"
        regions = _listed(found.regions)
        reasons = [f"{_named(found.outside)} registered outside the target regions ({regions})"]
        if found.unregistered:
            reasons.append(f"{_named(found.unregistered)} not registered (POST /api/v1/servers)")
        message = (
            f"none of them is a registered game server in the target regions: {'; '.join(reasons)}; name servers "
            f"in {regions}, add their regions to targetRegions, or leave out {FIELD} to roll out over the "
            f"registered servers in {regions}"
        )
    raise InvalidInput(
        f"{title}: {message}.",
        errors=[FieldError(f"body.{FIELD}", message)],
        extra={"unregisteredInstances": list(found.unregistered), "instancesOutsideRegions": dict(found.outside)},
    )


def warnings(found: TargetReach) -> list[TargetWarning]:
    """What a deployment that reaches some of its named servers says about the others."""
    out = []
    of = f"of the {len(found.targets)} {FIELD}"
    if found.unregistered:
        count = len(found.unregistered)
        what = "is not a registered game server" if count == 1 else "are not registered game servers"
        message = (
            f"{count} {of} {what}: no step counts {_them(count)} and {_their(count)} metric samples are refused "
            "until registered (POST /api/v1/servers)"
        )
        out.append(TargetWarning(UNREGISTERED, message, found.unregistered))
    if found.outside:
        count = len(found.outside)
        message = (
            f"{count} {of} {'is' if count == 1 else 'are'} registered outside the target regions "
            f"({_listed(found.regions)}), so no step exposes {_them(count)}: {_listed(_names(found.outside))}"
        )
        out.append(TargetWarning(OUTSIDE_REGIONS, message, tuple(server for server, _ in found.outside)))
    return out


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


def _their(count: int) -> str:
    return "its" if count == 1 else "their"


def _names(servers: Sequence[str] | Sequence[tuple[str, str]]) -> list[str]:
    """Server ids; one with its region reads `gs-1 in EU-WEST`."""
    return [s if isinstance(s, str) else f"{s[0]} in {s[1]}" for s in servers]


def _named(servers: Sequence[str] | Sequence[tuple[str, str]]) -> str:
    """`a, b are` or `a is`."""
    return f"{_listed(_names(servers))} {'is' if len(servers) == 1 else 'are'}"


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_NAMED])
    return shown + (f" and {len(items) - _NAMED} more" if len(items) > _NAMED else "")
