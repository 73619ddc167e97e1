import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

config_profiles = sa.Table(
    "config_profiles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("environment", sa.String(20), nullable=False),
    sa.Column("service_type", sa.String(100), nullable=True),
    sa.Column("schema_version", sa.String(50), nullable=True),
    sa.Column("json_schema", JSONType(), nullable=True),
    sa.Column("game_id", sa.String(200), nullable=True),
    sa.Column("config_type", sa.String(100), nullable=True),
    sa.Column("parent_id", sa.String(64), sa.ForeignKey("config_profiles.id"), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    # Not a foreign key: it would make the two tables reference each other. The service
    # only ever sets it to a version of this profile, inside the same transaction.
    sa.Column("live_version_id", sa.String(64), nullable=True),
    # Targeting rules (a JSON list, see delivery.rules): who gets something other than the live value.
    sa.Column("targeting", JSONType(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    # Bumped on every change of the row; also the row all writers to one profile lock.
    sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    sa.Index("ix_config_profiles_game_id", "game_id"),
)

config_versions = sa.Table(
    "config_versions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("profile_id", sa.String(64), sa.ForeignKey("config_profiles.id"), nullable=False),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("data", JSONType(), nullable=False),
    # The parent's data merged with `data`, fixed when the version is written (see 0002).
    sa.Column("effective_data", JSONType(), nullable=False),
    sa.Column("parent_version_id", sa.String(64), nullable=True),
    sa.Column("checksum", sa.String(80), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("profile_id", "version"),
    sa.UniqueConstraint("profile_id", "seq"),
)

config_releases = sa.Table(
    "config_releases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("profile_id", sa.String(64), sa.ForeignKey("config_profiles.id"), nullable=False),
    sa.Column("version_id", sa.String(64), sa.ForeignKey("config_versions.id"), nullable=False),
    sa.Column("previous_version_id", sa.String(64), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text(), nullable=True),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("approval_id", sa.String(64), nullable=True),
    sa.Index("ix_config_releases_profile", "profile_id", "requested_at"),
)
