"""Slack without a workspace: a local stand-in of the Web API that also plays Slack towards the bot."""
