"""experiment notes and tags; ids never reused after a delete; run (experiment_id, status) index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 16:40:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEVER_REUSED = ("experiment", "run", "change")


def _autoincrement(conn, table: str) -> None:
    """SQLite gives a new row max(id) + 1, so deleting the newest rows would hand their ids out
    again: a deleted experiment's URL would show the next new one, and new changes would get ids
    at or below a live feed's cursor, which never reads them. AUTOINCREMENT never reuses an id,
    but SQLite adds it only by rebuilding the table. Foreign keys are on and cannot be switched
    off inside this transaction, so they are deferred, and the rows go back into the new table
    after the old one is dropped: the children find their parents again before the commit."""
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if "AUTOINCREMENT" in sql.upper():
        return
    indexes = [
        row[0]
        for row in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        )
    ]
    new = re.sub(r",\s*PRIMARY KEY \(id\)", "", sql, count=1)
    new = re.sub(
        r"\bid INTEGER NOT NULL", "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT", new, count=1
    )
    if new.count("AUTOINCREMENT") != 1 or "PRIMARY KEY (id)" in new:
        raise RuntimeError(f"unexpected schema of table {table}: {sql}")
    hold = f"_hold_{table}"
    conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    conn.exec_driver_sql(f'CREATE TABLE "{hold}" AS SELECT * FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(new)
    conn.exec_driver_sql(f'INSERT INTO "{table}" SELECT * FROM "{hold}"')
    conn.exec_driver_sql(f'DROP TABLE "{hold}"')
    for index in indexes:
        conn.exec_driver_sql(index)


def upgrade() -> None:
    with op.batch_alter_table("experiment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column("tags", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
    op.create_index("ix_run_experiment_status", "run", ["experiment_id", "status"], unique=False)
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for table in NEVER_REUSED:
            _autoincrement(conn, table)


def downgrade() -> None:
    op.drop_index("ix_run_experiment_status", table_name="run")
    with op.batch_alter_table("experiment", schema=None) as batch_op:
        batch_op.drop_column("tags")
        batch_op.drop_column("notes")
