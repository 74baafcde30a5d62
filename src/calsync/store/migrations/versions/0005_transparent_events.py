"""external_calendars.transparent_events: existing calendars block on transparent events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("external_calendars", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "transparent_events", sa.String(length=16), server_default="block", nullable=False
            )
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("external_calendars", schema=None) as batch_op:
        batch_op.drop_column("transparent_events")
