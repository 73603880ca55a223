"""The scheduler's entry point: APScheduler ticks (`scheduler.service`); what a tick does is the service
layer's (`service.ticker`), on reminders kept as database rows (`service.reminders`)."""
