"""bookings: group_id, reference (unique per product), customer, notes

What a booking platform hands over: the main booking several rows belong to
(``group_id``), its own booking number (``reference``; existing and imported
bookings have none), who booked and an internal note.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("reference", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("customer", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("notes", sa.Text(), server_default="", nullable=False))
        batch_op.create_index("ix_bookings_group_id", ["group_id"], unique=False)
        batch_op.create_unique_constraint(
            "uq_bookings_product_id_reference", ["product_id", "reference"]
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_constraint("uq_bookings_product_id_reference", type_="unique")
        batch_op.drop_index("ix_bookings_group_id")
        batch_op.drop_column("notes")
        batch_op.drop_column("customer")
        batch_op.drop_column("reference")
        batch_op.drop_column("group_id")
