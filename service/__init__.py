"""The use cases: each thing the product does (apply an agent's command, open the due cases, fire a reminder,
hand cases over, erase a client, import a file) written once, as a handler taking a command and a unit of
work. The entry points (Slack listeners, the scheduler, the command line, the sandbox) only translate their
input into a command and the handler's result into their output; Slack rendering stays behind the
`Notifier` interface, so nothing here imports `bot/`."""
