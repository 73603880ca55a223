"""The tunable limits of the M+3 call, with the defaults French law and the guide set.

Built by the outer layers from settings; the engine only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rules:
    # Décret 2022-1313 (art. D.223-9 C. conso.): at most 4 calls or attempts in 30 days per professional.
    max_attempts: int = 4
    attempts_window_days: int = 30
    # After a refusal, no new call for 60 days.
    refusal_quiet_days: int = 60
    # A callback the client asked for at an exact time (even out of the legal slots) allows one attempt,
    # from the booked time to this many minutes after it.
    express_request_minutes: int = 15
    # Guide, section 8: limit the priorities to 2-3 gaps per call.
    max_priorities: int = 3
    # Unanswered attempts after which closing the case as unreachable is offered and allowed.
    unreachable_after: int = 3
    # The agency's professional account manager (e-mail), who becomes chargé de clientèle of a TNS.
    pro_account_manager: str | None = None
    # RGPD retention (years): a case closed longer ago than this is not reopened.
    retention_years: int = 5
    # Agents read times in the agency's time zone.
    agency_timezone: str = "Europe/Paris"
