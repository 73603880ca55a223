"""The Slack limits the outbox deliverer paces itself to (pydantic-settings, `SLACK_PACE_*` variables).

Rates are Slack's documented ones (per app and per workspace): tier 3 about 50 calls a minute
(`chat.update`, `chat.delete`, `users.lookupByEmail`), tier 4 about 100 (`chat.postEphemeral`, `views.*`), `chat.postMessage`
about 1 a second per channel. Slack publishes neither the burst sizes nor the workspace-wide limit of
`chat.postMessage`: those defaults are ours, smaller than what Slack tolerates, so that pacing stays ahead of
the 429s. `margin` slows every rate a little, for the clocks of several processes and the network's jitter.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.pacing import Bucket

TIER_3, TIER_4 = 50 / 60, 100 / 60


class PaceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLACK_PACE_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    # method -> (calls per second, burst)
    methods: dict[str, tuple[float, float]] = Field(default_factory=lambda: {
        "chat.update": (TIER_3, 5),
        "chat.delete": (TIER_3, 5),
        "users.lookupByEmail": (TIER_3, 5),
        "chat.postEphemeral": (TIER_4, 10),
        "views.publish": (TIER_4, 10),
        "chat.postMessage": (5.0, 10),  # workspace-wide: not published by Slack, our default
    })
    post_per_channel: float = 1.0  # chat.postMessage per channel, a second
    post_channel_burst: float = 2
    response_url_uses: int = 5  # Slack: 5 uses within 30 minutes of the interaction
    response_url_minutes: float = 29  # a minute short of Slack's 30, for clocks and delays
    margin: float = Field(default=0.9, gt=0, le=1)  # fraction of each rate actually used
    bulk_reserve: float = 1  # tokens bulk work leaves for the messages an agent is waiting for
    # How long a delivery worker waits for its turn and its tokens before putting the row back in the outbox
    # (seconds): a short wait in place keeps a busy channel's rate used; a long one would tie the worker up.
    wait_in_place: float = Field(default=2.0, ge=0)

    def faster(self, factor: float, *, bursts: float | None = None) -> PaceSettings:
        """These limits `factor` times faster (tests, benchmarks that say so); every burst `bursts` when given."""
        def burst(value: float) -> float:
            return value * factor if bursts is None else bursts

        return self.model_copy(update={
            "methods": {method: (rate * factor, burst(size)) for method, (rate, size) in self.methods.items()},
            "post_per_channel": self.post_per_channel * factor,
            "post_channel_burst": burst(self.post_channel_burst),
        })

    @property
    def channel_interval(self) -> float:
        """Seconds between two posts in one channel, at the pace kept."""
        return 1.0 / (self.post_per_channel * self.margin)

    def buckets(self, method: str, channel: str | None) -> list[Bucket]:
        """The buckets one call of `method` (to `channel`) takes a token from."""
        buckets = []
        if method in self.methods:
            rate, burst = self.methods[method]
            buckets.append(Bucket(f"method:{method}", rate * self.margin, burst))
        if method == "chat.postMessage" and channel:
            buckets.append(Bucket(f"channel:{channel}", self.post_per_channel * self.margin, self.post_channel_burst))
        return buckets
