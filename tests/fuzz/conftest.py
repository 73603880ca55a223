"""The bot's test fixtures (the stand-in and the whole bot over HTTP), shared with the fuzz tests."""

from tests.bot.conftest import harness, slack  # noqa: F401  (fixtures re-exported for this folder)
