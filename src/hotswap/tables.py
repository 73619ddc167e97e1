"""Every slice's tables on the one MetaData: what Alembic compares migrations against."""

from hotswap.approvals import tables as approvals_tables
from hotswap.audit import tables as audit_tables
from hotswap.auth import tables as auth_tables
from hotswap.configs import tables as configs_tables
from hotswap.storage.metadata import metadata

__all__ = ["approvals_tables", "audit_tables", "auth_tables", "configs_tables", "metadata"]
