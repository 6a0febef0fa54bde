"""one payment row per gateway payment, the attempt's method, refunded / disputed states

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 08:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ORDER = "status IN ('pending_payment', 'paid', 'shipped', 'delivered', 'canceled')"
NEW_ORDER = "status IN ('pending_payment', 'paid', 'shipped', 'delivered', 'canceled', 'refunded', 'disputed')"
OLD_PAYMENT = "status IN ('pending', 'paid', 'failed', 'refunded')"
NEW_PAYMENT = "status IN ('pending', 'paid', 'failed', 'refunded', 'disputed')"


def _check(table: str, expr: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_status"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_status"), sa.text(expr))


def upgrade() -> None:
    """Upgrade schema."""
    _check("orders", NEW_ORDER)
    _check("payments", NEW_PAYMENT)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("method", sa.String(length=8), nullable=True))
        batch_op.drop_index("ix_payments_provider_payment")
        batch_op.create_index("ix_payments_provider_payment", ["provider", "provider_payment_id"], unique=True)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_provider_payment")
        batch_op.create_index("ix_payments_provider_payment", ["provider", "provider_payment_id"], unique=False)
        batch_op.drop_column("method")
    _check("payments", OLD_PAYMENT)
    _check("orders", OLD_ORDER)
