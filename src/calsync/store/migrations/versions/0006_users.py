"""users of the web interface, shared secrets, failed logins

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import calsync.store.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _base_columns(table: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", calsync.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "users",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("last_login_at", calsync.store.models.UtcDateTime(timezone=True), nullable=True),
        *_base_columns("users"),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        *_base_columns("app_secrets"),
        sa.UniqueConstraint("name", name=op.f("uq_app_secrets_name")),
    )
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", calsync.store.models.UtcDateTime(timezone=True), nullable=True),
        *_base_columns("login_failures"),
        sa.UniqueConstraint("key", name=op.f("uq_login_failures_key")),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("login_failures")
    op.drop_table("app_secrets")
    op.drop_table("users")
