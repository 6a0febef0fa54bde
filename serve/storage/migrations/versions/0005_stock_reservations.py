"""stock levels and order expiry (stock reserved at checkout, released on expiry, sold on payment)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "stock_levels",
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_stock_levels_reserved_nonnegative")),
        sa.CheckConstraint("on_hand >= reserved", name=op.f("ck_stock_levels_reserved_within_on_hand")),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_stock_levels")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    op.drop_table("stock_levels")
