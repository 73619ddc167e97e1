"""erasure indexes: a player's deployment units and event participation found by its id (an
erasure deletes them without scanning either table)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deployment_units_unit", "deployment_units", ["kind", "unit_id"])
    op.create_index("ix_event_participants_player", "event_participants", ["player_id"])


def downgrade() -> None:
    op.drop_index("ix_event_participants_player", table_name="event_participants")
    op.drop_index("ix_deployment_units_unit", table_name="deployment_units")
