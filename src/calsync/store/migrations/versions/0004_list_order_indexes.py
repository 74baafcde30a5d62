"""indexes for the API's default order (created_at, id)

Without them a page of 20 rows sorted the whole table: 4 ms for 10 000
calendars, 100 ms for 500 000 bookings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("products", "external_calendars", "bookings", "sync_runs")


def upgrade() -> None:
    """Apply this migration."""
    for table in _TABLES:
        op.create_index(f"ix_{table}_created_at_id", table, ["created_at", "id"])


def downgrade() -> None:
    """Revert this migration."""
    for table in _TABLES:
        op.drop_index(f"ix_{table}_created_at_id", table_name=table)
