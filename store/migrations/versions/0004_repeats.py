"""repeats: a run carries its arm (index in the experiment) and its seed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backfill(conn) -> None:
    """Runs stored before repeats: one per arm, in id order, each with the experiment's seed."""
    experiments = conn.execute(sa.text("SELECT id, config FROM experiment")).all()
    for exp_id, config in experiments:
        config = json.loads(config) if isinstance(config, str) else config
        run_ids = conn.execute(
            sa.text("SELECT id FROM run WHERE experiment_id = :e ORDER BY id"), {"e": exp_id}
        ).scalars()
        for index, run_id in enumerate(list(run_ids)):
            conn.execute(
                sa.text("UPDATE run SET arm = :a, seed = :s WHERE id = :r"),
                {"a": index, "s": int(config.get("seed", 0)), "r": run_id},
            )


def upgrade() -> None:
    # A plain ADD COLUMN: rebuilding the table would drop SQLite's AUTOINCREMENT (0003).
    op.add_column("run", sa.Column("arm", sa.Integer(), nullable=True))
    op.add_column("run", sa.Column("seed", sa.Integer(), nullable=True))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("seed")
        batch_op.drop_column("arm")
