"""The bot token scopes the product needs: the manifest asks for them (a test keeps both in line), and
`m3bot doctor` checks the installed token has them."""

BOT_SCOPES = (
    "chat:write",
    "commands",
    "users:read",
    "users:read.email",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
    "files:write",
    "files:read",
)
