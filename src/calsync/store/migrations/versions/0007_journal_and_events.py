"""the change journal, the event outbox, webhooks, open issues and fetched bodies

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:01:08.595540
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import calsync.store.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "booking_changes",
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("external_calendar_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=True),
        sa.Column(
            "starts_at_before", calsync.store.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("ends_at_before", calsync.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "starts_at_after", calsync.store.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("ends_at_after", calsync.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("status_before", sa.String(length=16), nullable=True),
        sa.Column("status_after", sa.String(length=16), nullable=True),
        sa.Column("sync_run_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=300), nullable=True),
        sa.Column("changed_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_changes")),
    )
    with op.batch_alter_table("booking_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_booking_changes_booking_id_changed_at", ["booking_id", "changed_at"], unique=False
        )
        batch_op.create_index(
            "ix_booking_changes_created_at_id", ["created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_booking_changes_external_calendar_id", ["external_calendar_id"], unique=False
        )
        batch_op.create_index(
            "ix_booking_changes_product_id_changed_at", ["product_id", "changed_at"], unique=False
        )
        batch_op.create_index("ix_booking_changes_sync_run_id", ["sync_run_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("occurred_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_created_at_id", ["created_at", "id"], unique=False)

    op.create_table(
        "open_issues",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("opened_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_issues")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_open_issues_kind_key")),
    )
    with op.batch_alter_table("open_issues", schema=None) as batch_op:
        batch_op.create_index("ix_open_issues_product_id", ["product_id"], unique=False)

    op.create_table(
        "webhook_endpoints",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("failing_since", calsync.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_endpoints_created_at_id", ["created_at", "id"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", sa.Uuid(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempted_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_created_at_id", ["created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_id_attempted_at",
            ["endpoint_id", "attempted_at"],
            unique=False,
        )

    op.create_table(
        "webhook_messages",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column(
            "lease_expires_at", calsync.store.models.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_messages_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_webhook_messages_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
    )
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_messages_endpoint_id", ["endpoint_id"], unique=False)
        batch_op.create_index("ix_webhook_messages_event_id", ["event_id"], unique=False)
        batch_op.create_index(
            "ix_webhook_messages_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )

    op.create_table(
        "fetched_bodies",
        sa.Column("external_calendar_id", sa.Uuid(), nullable=False),
        sa.Column("sync_run_id", sa.Uuid(), nullable=True),
        sa.Column("fetched_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["external_calendar_id"],
            ["external_calendars.id"],
            name=op.f("fk_fetched_bodies_external_calendar_id_external_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetched_bodies")),
    )
    with op.batch_alter_table("fetched_bodies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fetched_bodies_external_calendar_id_fetched_at",
            ["external_calendar_id", "fetched_at"],
            unique=False,
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("fetched_bodies", schema=None) as batch_op:
        batch_op.drop_index("ix_fetched_bodies_external_calendar_id_fetched_at")

    op.drop_table("fetched_bodies")
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_messages_state_next_attempt_at")
        batch_op.drop_index("ix_webhook_messages_event_id")
        batch_op.drop_index("ix_webhook_messages_endpoint_id")

    op.drop_table("webhook_messages")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_endpoint_id_attempted_at")
        batch_op.drop_index("ix_webhook_deliveries_created_at_id")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_endpoints_created_at_id")

    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("open_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_open_issues_product_id")

    op.drop_table("open_issues")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_created_at_id")

    op.drop_table("events")
    with op.batch_alter_table("booking_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_changes_sync_run_id")
        batch_op.drop_index("ix_booking_changes_product_id_changed_at")
        batch_op.drop_index("ix_booking_changes_external_calendar_id")
        batch_op.drop_index("ix_booking_changes_created_at_id")
        batch_op.drop_index("ix_booking_changes_booking_id_changed_at")

    op.drop_table("booking_changes")
