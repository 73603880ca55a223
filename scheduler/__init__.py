"""Reminders that are never lost: the M+3 morning openings, booked callbacks, actions of the plan and the
leads' digest, kept as database rows and fired by APScheduler ticks (`scheduler.service`)."""
