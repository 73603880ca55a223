"""Slack without a workspace: the Web API stand-in that also plays Slack towards the bot (`slack_api`), the
web page that shows what a user would see in Slack (`web`), and `m3bot sandbox`, all of it at once (`demo`)."""
