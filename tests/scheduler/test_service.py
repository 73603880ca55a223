"""The APScheduler set-up: a tick at once and every interval, one at the agency's opening on weekdays, and the
RGPD retention purge at start and every day."""

from __future__ import annotations

from datetime import timedelta

from scheduler.service import start_scheduler


def test_scheduler_ticks_and_purges_at_start_every_interval_and_each_opening(engine, settings, notifier):
    scheduler = start_scheduler(settings, engine, notifier)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"tick", "morning", "retention_purge"}
        assert jobs["tick"].trigger.interval == timedelta(seconds=30)
        fields = {f.name: str(f) for f in jobs["morning"].trigger.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon-fri", "9", "0")
        assert str(jobs["morning"].trigger.timezone) == "Europe/Paris"
        purge = {f.name: str(f) for f in jobs["retention_purge"].trigger.fields}
        assert (purge["day_of_week"], purge["hour"], purge["minute"]) == ("*", "9", "0")
        assert all((job.coalesce, job.max_instances) == (True, 1) for job in jobs.values())
    finally:
        scheduler.shutdown(wait=True)
