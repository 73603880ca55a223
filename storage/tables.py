"""SQLModel tables: the M+3 cases and everything the guide's section 5.3 asks to trace.

Enum columns hold the stable codes of `flows.case` as plain strings (no database enum type, so adding a
code needs no migration). Timestamps are timezone-aware UTC on every backend, JSON columns use the
portable `sa.JSON`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp; SQLite stores it naive, so awareness is restored on reading."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass a timezone-aware value")
        value = value.astimezone(UTC)
        # SQLite keeps the text as given: store UTC without offset so comparisons stay lexical.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(*, nullable: bool = True, index: bool = False, default_now: bool = False) -> Any:
    if default_now:
        return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False, index=index)
    return Field(default=None if nullable else ..., sa_type=UtcDateTime, nullable=nullable, index=index)


def _json(factory: Callable[[], Any] | None = None) -> Any:
    """A JSON column; with `factory` it is NOT NULL and defaults to an empty container."""
    if factory is None:
        return Field(default=None, sa_type=sa.JSON, nullable=True)
    return Field(default_factory=factory, sa_type=sa.JSON, nullable=False)


class Workspace(SQLModel, table=True):
    """One agency: one Slack workspace (`team_id`). Every row that belongs to an agency names its workspace
    (`workspace_id`), and every session of an agency sees that workspace's rows only (`storage.workspaces`).
    A single-agency install has one; its Slack team is learnt when the bot first meets Slack (`team_id` is
    empty until then)."""

    id: int | None = Field(default=None, primary_key=True)
    team_id: str | None = Field(default=None, unique=True)
    name: str | None = None
    created_at: datetime = _ts(nullable=False, default_now=True)
    # Uninstalled, or its bot token revoked: no request served, no reminder fired, no message sent; its data
    # is kept `stopped_workspace_keep_days`, then erased (`service.workspaces`).
    stopped_at: datetime | None = _ts()
    # What its admin set in Slack (`service.agency_settings`): it wins over the environment's defaults.
    settings: dict[str, Any] = _json(dict)


class WorkspaceErasure(SQLModel, table=True):
    """An agency's data deleted (at its request, or after it uninstalled the app): the log kept of it, which
    is no agency's data, and what lets the trail's guard let that workspace's entries go."""

    __tablename__ = "workspace_erasure"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(index=True)  # no foreign key: the workspace row goes with its data
    team_id: str | None = None
    erased_at: datetime = _ts(nullable=False)
    actor: str
    reason: str  # "request" (`m3bot workspace erase`) or "stopped" (kept its period after uninstalling)
    rows: dict[str, int] = _json(dict)  # rows deleted per table


def _workspace() -> Any:
    return Field(foreign_key="workspace.id", index=True)


class Agent(SQLModel, table=True):
    """An agent of the agency, known by e-mail; the Slack user id is learnt when the bot meets him."""

    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "email", name="uq_agent_workspace_email"),
        sa.UniqueConstraint("workspace_id", "slack_user_id", name="uq_agent_workspace_slack_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    email: str
    display_name: str | None = None
    slack_user_id: str | None = None
    # When Slack answered that it knows no user with this e-mail (`bot.agents`): not asked again.
    slack_unknown_at: datetime | None = _ts()


class Client(SQLModel, table=True):
    """The client file (`flows.case.ClientFile`), keyed by the management system's client number."""

    __table_args__ = (sa.UniqueConstraint("workspace_id", "number", name="uq_client_workspace_number"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    number: str
    client_type: str
    last_name: str
    first_name: str = ""
    civility: str = ""
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    postcode: str | None = None
    marital_status: str | None = None
    professional_status: str | None = None
    siren: str | None = None
    naf: str | None = None
    naf_version: str | None = None
    activity: str | None = None
    account_manager: str | None = None
    opposition_at: datetime | None = _ts()  # the client opposes any commercial call (until a lead lifts it)
    no_commercial_until: date | None = None  # he declined a rebound: nothing commercial before this day
    created_at: datetime = _ts(nullable=False, default_now=True)
    updated_at: datetime = _ts(nullable=False, default_now=True)


class M3Case(SQLModel, table=True):
    __tablename__ = "m3_case"
    __table_args__ = (
        sa.Index("ix_m3_case_due", "state", "opened_at", "m3_date"),
        sa.Index("ix_m3_case_opened_at", "opened_at"),  # dashboards: the cases opened in a period
        sa.Index("ix_m3_case_seller", "seller"),  # an agent's cases are those he calls or sold (agent OR seller)
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    state: str = Field(index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    m3_date: date
    seller: str | None = None
    agent: str | None = Field(default=None, index=True)
    caller: str | None = None
    callback_at: datetime | None = _ts(index=True)
    callback_client_requested: bool = False
    admin_profile_done_at: datetime | None = _ts()
    admin_contracts_done_at: datetime | None = _ts()
    rebound_done_at: datetime | None = _ts()
    close_reason: str | None = None
    close_note: str | None = None
    closed_at: datetime | None = _ts()
    opened_at: datetime | None = _ts()
    # Set when a first run found the case past the catch-up window: listed, never opened automatically.
    out_of_time_at: datetime | None = _ts()
    version: int = 0
    # The head of the case's audit chain and its length (`storage.audit`): losing the last entries shows.
    audit_head: str | None = None
    audit_count: int = 0
    created_at: datetime = _ts(nullable=False, default_now=True)


class Contract(SQLModel, table=True):
    # Dashboards: a case's origin is that of its first contract, read from this index alone.
    __table_args__ = (
        sa.Index("ix_contract_case_first", "case_id", "subscribed_on", "number", "origin"),
        sa.UniqueConstraint("workspace_id", "number", name="uq_contract_workspace_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    number: str
    client_id: int = Field(foreign_key="client.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="m3_case.id", index=True)
    product: str
    formula: str
    subscribed_on: date
    origin: str
    signed: bool
    missing_pieces: list[str] = _json(list)
    seller: str | None = None
    terminated_on: date | None = None
    updated_at: datetime = _ts(nullable=False, default_now=True)


class CallAttempt(SQLModel, table=True):
    __tablename__ = "call_attempt"
    __table_args__ = (
        sa.Index("ix_call_attempt_client_at", "client_id", "at"),
        sa.Index("ix_call_attempt_by_at", "by", "at"),  # an agent's calls this week (App Home)
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id")
    case_id: int | None = Field(default=None, foreign_key="m3_case.id", index=True)
    at: datetime = _ts(nullable=False)
    by: str
    outcome: str
    channel: str = "telephone"
    callback_at: datetime | None = _ts()
    client_requested: bool = False


class ProfileCheck(SQLModel, table=True):
    __tablename__ = "profile_check"
    __table_args__ = (sa.UniqueConstraint("case_id", "field"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="m3_case.id")
    field: str
    answer: str
    old_value: str | None = None
    new_value: str | None = None
    at: datetime = _ts(nullable=False)
    by: str


class ContractCheck(SQLModel, table=True):
    __tablename__ = "contract_check"
    __table_args__ = (sa.UniqueConstraint("case_id", "contract_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="m3_case.id")
    contract_id: int = Field(foreign_key="contract.id")
    answer: str
    piece: str | None = None
    recovery: str | None = None
    at: datetime = _ts(nullable=False)
    by: str


class Agreement(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="m3_case.id", unique=True)
    at: datetime = _ts(nullable=False)
    by: str
    wording: str
    agreed: bool
    withdrawn_at: datetime | None = _ts()


class ProtectionCheck(SQLModel, table=True):
    __tablename__ = "protection_check"
    __table_args__ = (sa.UniqueConstraint("case_id", "protection"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="m3_case.id")
    protection: str
    answer: str
    insurer: str | None = None
    renewal_on: date | None = None
    priority: bool = False
    reason: str | None = None
    at: datetime = _ts(nullable=False)
    by: str


class Need(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="m3_case.id", index=True)
    text: str
    at: datetime = _ts(nullable=False)
    by: str


class Action(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_action_status_due", "status", "due_on"),
        sa.Index("ix_action_created_by_at", "created_by", "created_at"),  # an agent's actions planned this week
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="m3_case.id", index=True)
    kind: str
    due_on: date
    owner: str = Field(index=True)
    purpose: str | None = None
    reason: str | None = None
    aim: str = Field(default="commercial", sa_column_kwargs={"server_default": "commercial"})
    status: str = "todo"
    done_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)
    created_by: str


class AuditEntry(SQLModel, table=True):
    """Append-only: who did what, when, chained by hash (`storage.chain`). Database triggers refuse every
    UPDATE and DELETE but the RGPD erase's, which replaces `data` by `sealed`."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        sa.Index("ix_audit_entry_case_at", "case_id", "at"),
        sa.Index("ix_audit_entry_client_at", "client_id", "at"),
        sa.Index("ix_audit_entry_at", "at"),  # the digest's chains changed in the last day
        sa.UniqueConstraint("case_id", "seq", name="uq_audit_entry_case_seq"),
        # Entries of no case form one chain per workspace: their numbers are unique too (NULLs never clash
        # in the above).
        sa.Index("uq_audit_entry_global_seq", "workspace_id", "seq", unique=True,
                 sqlite_where=sa.text("case_id IS NULL"), postgresql_where=sa.text("case_id IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    at: datetime = _ts(nullable=False)
    actor: str
    case_id: int | None = Field(default=None, foreign_key="m3_case.id")
    client_id: int | None = Field(default=None, foreign_key="client.id")
    event: str
    data: dict[str, Any] = _json(dict)
    seq: int  # position in its chain (its case's, or that of the entries of no case), from 1
    sealed: dict[str, Any] = _json(dict)  # `data`, personal values replaced by their HMAC: what the chain covers
    hash: str


class AuditChain(SQLModel, table=True):
    """The head of a chain that has no case row to keep it: "global", a workspace's entries of no case."""

    __tablename__ = "audit_chain"

    workspace_id: int = Field(foreign_key="workspace.id", primary_key=True)
    name: str = Field(primary_key=True)
    head: str | None = None
    count: int = 0


class ClientSecret(SQLModel, table=True):
    """The key of a client's HMACs in the sealed trail; the RGPD erase deletes it."""

    __tablename__ = "client_secret"

    client_id: int = Field(foreign_key="client.id", primary_key=True)
    secret: str  # 32 random bytes, hex
    created_at: datetime = _ts(nullable=False, default_now=True)


class Outbox(SQLModel, table=True):
    """Slack Web API calls to make once their transaction committed (see `storage.outbox`)."""

    __table_args__ = (
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
        sa.Index("ix_outbox_lane", "case_id", "role", "status"),
        sa.UniqueConstraint("workspace_id", "dedupe_key", name="uq_outbox_workspace_dedupe_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    created_at: datetime = _ts(nullable=False, default_now=True)
    case_id: int | None = Field(default=None, foreign_key="m3_case.id", index=True)
    method: str
    payload: dict[str, Any] = _json(dict)
    dedupe_key: str | None = None
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = _ts(nullable=False, default_now=True)
    locked_until: datetime | None = _ts()  # lease of the worker that claimed the row
    last_error: str | None = None
    delivered_at: datetime | None = _ts()
    result: dict[str, Any] | None = _json()
    role: str | None = None  # the message a `message.upsert` edits (its lane: rows of one role go in order)
    priority: int = Field(default=1, sa_column_kwargs={"server_default": "1"})  # 0 an agent waits, 2 bulk
    digest: str | None = None  # of the content queued, to skip an edit that would show the same


class SlackPace(SQLModel, table=True):
    """One token bucket of Slack's rate limits per (workspace, method or channel), shared by every
    deliverer of the workspace (`storage.pacing`)."""

    __tablename__ = "slack_pace"

    team: str = Field(primary_key=True)
    bucket: str = Field(primary_key=True)
    tokens: float
    updated_at: datetime = _ts(nullable=False, default_now=True)
    held_until: datetime | None = _ts()  # a 429's Retry-After: nothing in this bucket before then


class ProcessedRequest(SQLModel, table=True):
    """One row per Slack request handled: a retry or a double click with the same key is a no-op."""

    __tablename__ = "processed_request"

    key: str = Field(primary_key=True)
    at: datetime = _ts(nullable=False, default_now=True)


class ImportRun(SQLModel, table=True):
    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    file_name: str
    file_hash: str = Field(index=True)
    at: datetime = _ts(nullable=False, default_now=True)
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class Reminder(SQLModel, table=True):
    """A reminder the scheduler fires once at `due_at` (see `service.reminders`)."""

    __tablename__ = "reminder"
    __table_args__ = (
        sa.Index("ix_reminder_due", "status", "due_at"),
        sa.UniqueConstraint("workspace_id", "dedupe_key", name="uq_reminder_workspace_dedupe_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = _workspace()
    kind: str
    dedupe_key: str
    due_at: datetime = _ts(nullable=False)
    case_id: int | None = Field(default=None, foreign_key="m3_case.id", index=True)
    # No foreign key: a reminder is history, whatever later becomes of its action.
    action_id: int | None = Field(default=None, index=True)
    ref_at: datetime | None = _ts()  # the booked callback time
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None  # an exception class name, never a message that could carry personal data
    fired_at: datetime | None = _ts()
    fired_by: str | None = None  # host:pid of the process that fired it
    created_at: datetime = _ts(nullable=False, default_now=True)
