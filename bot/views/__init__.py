"""Block Kit builders of the M+3 bot: the status card (`card`), one message per step of the call (`steps`),
the modals (`modals`), `/m3 aide` and refusals (`help`), `/m3 mes-dossiers` (`lists`), and the identifiers
the listeners register (`ids`). Every builder validates its output through slack_sdk's models."""
