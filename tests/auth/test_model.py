"""The role -> permission matrix and the principal's checks."""

from __future__ import annotations

import pytest

from hotswap.auth.model import ROLE_PERMISSIONS, SYSTEM, Permission, Principal, Role

P = Permission
READS = {P.CONFIG_READ, P.APPROVAL_READ, P.AUDIT_READ, P.METRICS_READ, P.SNAPSHOT_READ, P.FLEET_READ}
MANAGEMENT = set(Permission)


def principal(role: Role) -> Principal:
    return Principal(subject=f"{role.value}-user", role=role, token_id="tok_1")


def test_every_role_has_an_entry_in_the_matrix() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.ADMIN, set(Permission)),
        (
            Role.OPERATOR,
            READS
            | {
                P.CONFIG_WRITE,
                P.RELEASE_REQUEST,
                P.PLAYER_READ,
                P.PLAYER_WRITE,
                P.FLEET_REPORT,
                P.REGION_WRITE,
                P.DEPLOYMENT_WRITE,
                P.EVENT_WRITE,
            },
        ),
        (Role.APPROVER, READS | {P.APPROVAL_DECIDE}),
        (Role.VIEWER, READS),
        (Role.SERVER, {P.SNAPSHOT_READ, P.PLAYER_WRITE, P.FLEET_REPORT}),
    ],
)
def test_role_grants_exactly_its_permissions(role: Role, expected: set[Permission]) -> None:
    assert set(ROLE_PERMISSIONS[role]) == expected
    who = principal(role)
    for permission in Permission:
        assert who.can(permission) is (permission in expected), permission


def test_admin_can_do_everything() -> None:
    assert all(principal(Role.ADMIN).can(p) for p in Permission)


@pytest.mark.parametrize("permission", [P.CONFIG_WRITE, P.RELEASE_REQUEST, P.APPROVAL_DECIDE, P.TOKEN_ADMIN])
def test_viewer_cannot_write_decide_or_manage(permission: Permission) -> None:
    assert not principal(Role.VIEWER).can(permission)


def test_viewer_can_read() -> None:
    assert all(principal(Role.VIEWER).can(p) for p in READS)


def test_approver_decides_approvals_but_does_not_change_configs() -> None:
    approver = principal(Role.APPROVER)
    assert approver.can(P.APPROVAL_DECIDE)
    assert not approver.can(P.CONFIG_WRITE)
    assert not approver.can(P.RELEASE_REQUEST)
    assert not approver.can(P.TOKEN_ADMIN)


def test_operator_changes_configs_but_cannot_approve_or_manage_tokens() -> None:
    operator = principal(Role.OPERATOR)
    assert operator.can(P.CONFIG_WRITE)
    assert operator.can(P.RELEASE_REQUEST)
    assert not operator.can(P.APPROVAL_DECIDE)
    assert not operator.can(P.TOKEN_ADMIN)


def test_server_role_reads_its_snapshot_reports_players_and_itself_but_nothing_else() -> None:
    server = principal(Role.SERVER)
    assert {p for p in Permission if server.can(p)} == {P.SNAPSHOT_READ, P.PLAYER_WRITE, P.FLEET_REPORT}


def test_only_admin_erases_player_data() -> None:
    assert {r for r in Role if principal(r).can(P.PLAYER_DELETE)} == {Role.ADMIN}


def test_only_admin_administers_tokens() -> None:
    assert {r for r in Role if principal(r).can(P.TOKEN_ADMIN)} == {Role.ADMIN}


def test_only_admin_and_approver_decide_approvals() -> None:
    assert {r for r in Role if principal(r).can(P.APPROVAL_DECIDE)} == {Role.ADMIN, Role.APPROVER}


def test_only_admin_and_operator_write_configs() -> None:
    assert {r for r in Role if principal(r).can(P.CONFIG_WRITE)} == {Role.ADMIN, Role.OPERATOR}


def test_permission_sets_cannot_be_modified() -> None:
    for permissions in ROLE_PERMISSIONS.values():
        assert isinstance(permissions, frozenset)


def test_system_principal_is_an_admin() -> None:
    assert SYSTEM.role is Role.ADMIN
    assert SYSTEM.subject == "system"
    assert all(SYSTEM.can(p) for p in MANAGEMENT)


def test_role_values_are_the_wire_values() -> None:
    assert [r.value for r in Role] == ["admin", "operator", "approver", "viewer", "server"]
    with pytest.raises(ValueError, match="'root'"):
        Role("root")
