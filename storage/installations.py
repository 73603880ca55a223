"""Slack installations and OAuth states, kept in the product's database by slack_sdk's own SQLAlchemy stores.

Hosted mode (one service, many agencies) installs the app from a link: Bolt's OAuth flow issues a state per
install (`slack_oauth_states`), exchanges Slack's code for the workspace's bot token and saves it
(`slack_installations`, and its latest bot in `slack_bots`, with the refresh token and expiry of token
rotation). The tables are slack_sdk's, built by its own table builders on the product's metadata, so that
Alembic creates them like every other table (migration 0012) and the stores read and write them as they
were designed to.

The bot tokens are secrets: they are read only to build a Web API client, never logged or exported.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

INSTALLATIONS = SQLAlchemyInstallationStore.build_installations_table(
    SQLModel.metadata, SQLAlchemyInstallationStore.default_installations_table_name)
BOTS = SQLAlchemyInstallationStore.build_bots_table(SQLModel.metadata, SQLAlchemyInstallationStore.default_bots_table_name)
STATES = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    SQLModel.metadata, SQLAlchemyOAuthStateStore.default_table_name)


def installation_store(engine: Engine, client_id: str) -> SQLAlchemyInstallationStore:
    """slack_sdk's installation store on the product's tables (the ones migration 0012 created)."""
    store = SQLAlchemyInstallationStore(client_id=client_id, engine=engine)
    store.metadata, store.installations, store.bots = SQLModel.metadata, INSTALLATIONS, BOTS
    return store


def state_store(engine: Engine, *, expiration_seconds: int) -> SQLAlchemyOAuthStateStore:
    """slack_sdk's OAuth state store on the product's table: a state works once, until it expires."""
    store = SQLAlchemyOAuthStateStore(expiration_seconds=expiration_seconds, engine=engine)
    store.metadata, store.oauth_states = SQLModel.metadata, STATES
    return store
