"""wave 2: security and the house (sessions, keys at rest, indexes, référentiel life cycle)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Written by hand: each change below names the finding it serves. Batch mode keeps
SQLite able to alter tables.
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every foreign key a delete or a lookup follows has an index (erasing a person
    # scanned whole tables without them).
    op.create_index("ix_lti_launch_state_platform_id", "lti_launch_state", ["platform_id"])
    op.create_index(
        "ix_lti_registration_invite_platform_id", "lti_registration_invite", ["platform_id"]
    )
    op.create_index("ix_sync_run_platform_id", "sync_run", ["platform_id"])
    op.create_index("ix_activity_mapping_created_by_id", "activity_mapping", ["created_by_id"])
    op.create_index("ix_parcours_person_id", "parcours", ["person_id"])
    op.create_index("ix_dossier_created_by_id", "dossier", ["created_by_id"])
    op.create_index("ix_history_entry_actor_id", "history_entry", ["actor_id"])
    op.create_index(
        "ix_parcours_accompagnateur_added_by_id", "parcours_accompagnateur", ["added_by_id"]
    )
    op.create_index("ix_review_reviewer_id", "review", ["reviewer_id"])
    op.create_index("ix_task_created_by_id", "task", ["created_by_id"])
    op.create_index("ix_evidence_created_by_id", "evidence", ["created_by_id"])
    op.create_index("ix_tag_created_by_id", "tag", ["created_by_id"])
    op.create_index("ix_pending_write_dossier_id", "pending_write", ["dossier_id"])
    op.create_index("ix_pending_write_evidence_id", "pending_write", ["evidence_id"])
    # Scans at a network's scale: retention by closing date, namesakes by parent folder
    # (equality, which an index answers under any collation), shares to retry.
    op.create_index("ix_parcours_closed_at", "parcours", ["closed_at"])
    with op.batch_alter_table("dossier_folder", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parent", sa.String(length=1000), nullable=False, server_default="")
        )
    folders = sa.table("dossier_folder", sa.column("id", sa.Integer),
                       sa.column("path", sa.String), sa.column("parent", sa.String))
    connection = op.get_bind()
    for folder_id, path in connection.execute(sa.select(folders.c.id, folders.c.path)).all():
        connection.execute(
            folders.update().where(folders.c.id == folder_id)
            .values(parent=path.rsplit("/", 1)[0] if "/" in path else "")
        )
    op.create_index("ix_dossier_folder_parent", "dossier_folder", ["parent"])
    op.create_index(
        "ix_dossier_folder_share_pending", "dossier_folder", ["parcours_id"],
        postgresql_where=sa.text("share_error <> ''"), sqlite_where=sa.text("share_error <> ''"),
    )
    # Sessions that can be revoked: the server side of the session cookie.
    op.create_table(
        "session_record",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"],
            name=op.f("fk_session_record_person_id_person"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"], ["platform.id"],
            name=op.f("fk_session_record_platform_id_platform"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_session_record")),
    )
    with op.batch_alter_table("session_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_record_person_id"), ["person_id"])
        batch_op.create_index(batch_op.f("ix_session_record_platform_id"), ["platform_id"])
        batch_op.create_index(batch_op.f("ix_session_record_expires_at"), ["expires_at"])
    # Issue 16: « ne pas mettre dans le dossier » per activity (the candidat's choice), and
    # the accompagnateur's « ce qui reste à montrer » annex per parcours; both off.
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("out_of_dossier", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("parcours", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dossier_remaining_annex", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    # The accompagnateur's day (issue 17): what each one saw, their words on an activity,
    # the compétences they propose (the candidat decides).
    op.create_table(
        "task_seen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_task_seen_person_id_person"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"],
                                name=op.f("fk_task_seen_task_id_task"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_seen")),
        sa.UniqueConstraint("person_id", "task_id", name=op.f("uq_task_seen_person_id_task_id")),
    )
    with op.batch_alter_table("task_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_seen_person_id"), ["person_id"])
        batch_op.create_index(batch_op.f("ix_task_seen_task_id"), ["task_id"])
    op.create_table(
        "activity_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("parcours_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(length=300), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["person.id"],
                                name=op.f("fk_activity_comment_author_id_person"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["parcours_id"], ["parcours.id"],
                                name=op.f("fk_activity_comment_parcours_id_parcours"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"],
                                name=op.f("fk_activity_comment_task_id_task"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_comment")),
    )
    with op.batch_alter_table("activity_comment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_comment_author_id"), ["author_id"])
        batch_op.create_index(batch_op.f("ix_activity_comment_parcours_id"), ["parcours_id"])
        batch_op.create_index(batch_op.f("ix_activity_comment_task_id"), ["task_id"])
    op.create_table(
        "tag_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("referentiel_id", sa.String(length=100), nullable=False),
        sa.Column("referentiel_version", sa.String(length=50), nullable=False),
        sa.Column("competence_code", sa.String(length=100), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("proposed_by_name", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["proposed_by_id"], ["person.id"],
                                name=op.f("fk_tag_proposal_proposed_by_id_person"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"],
                                name=op.f("fk_tag_proposal_task_id_task"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_proposal")),
    )
    with op.batch_alter_table("tag_proposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tag_proposal_proposed_by_id"), ["proposed_by_id"])
        batch_op.create_index(batch_op.f("ix_tag_proposal_task_id"), ["task_id"])

    # The candidat's journey (issue 15): drafts kept as the person types, the one-time
    # hand-off to the person's phone (only digests kept).
    op.create_table(
        "draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("form_key", sa.String(length=100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["course.id"],
                                name=op.f("fk_draft_course_id_course"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_draft_person_id_person"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["platform_id"], ["platform.id"],
                                name=op.f("fk_draft_platform_id_platform"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft")),
        sa.UniqueConstraint("person_id", "course_id", "form_key",
                            name=op.f("uq_draft_person_id_course_id_form_key")),
    )
    with op.batch_alter_table("draft", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draft_course_id"), ["course_id"])
        batch_op.create_index(batch_op.f("ix_draft_person_id"), ["person_id"])
        batch_op.create_index(batch_op.f("ix_draft_platform_id"), ["platform_id"])
    op.create_table(
        "handoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("session_digest", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phone_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["course_id"], ["course.id"],
                                name=op.f("fk_handoff_course_id_course"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_handoff_person_id_person"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["platform_id"], ["platform.id"],
                                name=op.f("fk_handoff_platform_id_platform"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_handoff_code_digest")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_handoff_token_digest")),
    )
    with op.batch_alter_table("handoff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handoff_course_id"), ["course_id"])
        batch_op.create_index(batch_op.f("ix_handoff_person_id"), ["person_id"])
        batch_op.create_index(batch_op.f("ix_handoff_platform_id"), ["platform_id"])
        batch_op.create_index(batch_op.f("ix_handoff_session_digest"), ["session_digest"])
        batch_op.create_index(batch_op.f("ix_handoff_phone_digest"), ["phone_digest"])


def downgrade() -> None:
    op.drop_table("handoff")  # the candidat's journey (issue 15)
    op.drop_table("draft")
    with op.batch_alter_table("parcours", schema=None) as batch_op:  # issue 16
        batch_op.drop_column("dossier_remaining_annex")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_column("out_of_dossier")
    op.drop_table("tag_proposal")  # the accompagnateur's day (issue 17)
    op.drop_table("activity_comment")
    op.drop_table("task_seen")
    op.drop_table("session_record")  # sessions that can be revoked
    op.drop_index("ix_dossier_folder_share_pending", table_name="dossier_folder")
    op.drop_index("ix_dossier_folder_parent", table_name="dossier_folder")
    with op.batch_alter_table("dossier_folder", schema=None) as batch_op:
        batch_op.drop_column("parent")
    op.drop_index("ix_parcours_closed_at", table_name="parcours")
    op.drop_index("ix_pending_write_evidence_id", table_name="pending_write")
    op.drop_index("ix_pending_write_dossier_id", table_name="pending_write")
    op.drop_index("ix_tag_created_by_id", table_name="tag")
    op.drop_index("ix_evidence_created_by_id", table_name="evidence")
    op.drop_index("ix_task_created_by_id", table_name="task")
    op.drop_index("ix_review_reviewer_id", table_name="review")
    op.drop_index("ix_parcours_accompagnateur_added_by_id", table_name="parcours_accompagnateur")
    op.drop_index("ix_history_entry_actor_id", table_name="history_entry")
    op.drop_index("ix_dossier_created_by_id", table_name="dossier")
    op.drop_index("ix_parcours_person_id", table_name="parcours")
    op.drop_index("ix_activity_mapping_created_by_id", table_name="activity_mapping")
    op.drop_index("ix_sync_run_platform_id", table_name="sync_run")
    op.drop_index("ix_lti_registration_invite_platform_id", table_name="lti_registration_invite")
    op.drop_index("ix_lti_launch_state_platform_id", table_name="lti_launch_state")
