"""The client's consent to the commercial part: whether it may be asked, whether it holds today."""

from __future__ import annotations

from datetime import date

from flows.case import Action, Aim, Case, ClientFile
from flows.steps.common import Refused


def client_commercial_bar(client: ClientFile, today: date) -> Refused | None:
    """Why no commercial rebound may even be asked of this client today: his opposition, or the quiet period
    after he declined one; None when the consent question may be put."""
    if client.opposition_at is not None:
        return Refused("opposition", since=client.opposition_at.strftime("%d/%m/%Y"))
    if client.no_commercial_until is not None and today < client.no_commercial_until:
        return Refused("rebound_quiet_period", until=client.no_commercial_until.strftime("%d/%m/%Y"))
    return None


def commercial_refusal(case: Case, today: date) -> Refused | None:
    """Why nothing commercial (protection, priority, need, commercial action) may be recorded on this case
    today, or None when the client's agreement is given and holds. Views use it to offer the buttons."""
    agreement = case.agreement
    if (bar := client_commercial_bar(case.client, today)) is not None and (agreement is None or agreement.given):
        return bar
    if agreement is None:
        return Refused("agreement_missing")
    if agreement.withdrawn_at is not None:
        return Refused("agreement_withdrawn", when=agreement.withdrawn_at.strftime("%d/%m/%Y %H:%M"))
    if not agreement.agreed:
        return Refused("agreement_declined")
    return None


def require_consent(case: Case, today: date) -> None:
    """Refuse a commercial answer or action unless the client's agreement holds today."""
    if (refusal := commercial_refusal(case, today)) is not None:
        raise refusal


def reminder_barred(case: Case, action: Action, today: date) -> bool:
    """A commercial action's reminder is not sent once consent is gone (declined, withdrawn, opposition,
    quiet period): no commercial call may come of it."""
    return action.aim is Aim.commercial and commercial_refusal(case, today) is not None
