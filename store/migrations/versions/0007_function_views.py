"""toy tasks: function views per arm and epoch; R^2 columns; accuracies null for regression

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "functionview",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("view", sa.JSON(), nullable=False),
        sa.Column("grid", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "epoch"),
    )
    op.create_index(op.f("ix_functionview_run_id"), "functionview", ["run_id"], unique=False)
    with op.batch_alter_table("epochmetric", schema=None) as batch_op:
        batch_op.alter_column("train_acc", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("val_acc", existing_type=sa.Float(), nullable=True)
        batch_op.add_column(sa.Column("train_r2", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("val_r2", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("epochmetric", schema=None) as batch_op:
        batch_op.drop_column("val_r2")
        batch_op.drop_column("train_r2")
    op.drop_index(op.f("ix_functionview_run_id"), table_name="functionview")
    op.drop_table("functionview")
