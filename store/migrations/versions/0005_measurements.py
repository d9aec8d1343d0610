"""per-epoch dead units; weight images (issue 21)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("epochmetric", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dead_units", sa.JSON(), nullable=True))
    op.create_table(
        "weightimage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("layer", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("image_shape", sa.JSON(), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("tiles", sa.LargeBinary(), nullable=False),
        sa.Column("importance", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "epoch"),
    )
    with op.batch_alter_table("weightimage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_weightimage_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("weightimage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_weightimage_run_id"))
    op.drop_table("weightimage")
    with op.batch_alter_table("epochmetric", schema=None) as batch_op:
        batch_op.drop_column("dead_units")
