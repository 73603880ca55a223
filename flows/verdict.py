"""The compliance verdict of one case, computed from its audit trail alone.

A reviewer (ACPR, CNIL, the insurer) checks that the call followed the guide and the law in this order:
administrative profile validated → contracts validated → the client's consent given (its wording and
time) → needs and protections → proposals, each proposal with its reason. `verdict(facts)` reads the
case's audit facts in the order they were recorded and lists every deviation by a stable code (its French
label: `flows/texts/verdict.yml`). It never looks at the case itself: the trail is the evidence, and
`storage.compliance` feeds it the stored trail only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flows import texts

# --- The trail's fact names (emitted by flows/steps/) by what they mean here: the one place to align. ---
PROFILE_VALIDATED = "profile_validated"
CONTRACTS_VALIDATED = "contracts_validated"
CONSENT_RECORDED = "agreement_recorded"  # data: agreed (bool), wording; one fact for both answers (older trails)
CONSENT_GIVEN = "consent_given"  # data: wording
CONSENT_DECLINED = "consent_declined"  # data: wording
CONSENT_WITHDRAWN = "consent_withdrawn"  # the client takes his agreement back during the rebound
OPPOSITION_SET = "opposition_set"  # the client asks never to be called again for commercial purposes
OPPOSITION_LIFTED = "opposition_lifted"
PROTECTION_ANSWERED = "protection_answered"  # data: protection, answer
PRIORITY_SET = "priority_set"  # data: protection, priority (bool), reason
NEED_RECORDED = "need_recorded"  # data: text
ACTION_ADDED = "action_added"  # data: kind, purpose, reason, aim
CASE_CLOSED = "case_closed"  # data: reason
CASE_REOPENED = "case_reopened"  # a lead reopened the case: the case is judged on its next (last) closing
FACT_NAMES = frozenset({PROFILE_VALIDATED, CONTRACTS_VALIDATED, CONSENT_RECORDED, CONSENT_GIVEN, CONSENT_DECLINED,
                        CONSENT_WITHDRAWN, OPPOSITION_SET, OPPOSITION_LIFTED, PROTECTION_ANSWERED, PRIORITY_SET,
                        NEED_RECORDED, ACTION_ADDED, CASE_CLOSED, CASE_REOPENED})
HELD_ELSEWHERE = "elsewhere"  # a protection answer: held with another insurer, so it cannot be a priority
COMPLETED = "completed"  # the closing reason of a call that went to its end
# An action of the plan is a commercial proposal when its aim is commercial, and a devis or a global review
# always is (trails written before actions had an aim carry only the kind and the purpose).
COMMERCIAL_AIM = "commercial"
COMMERCIAL_KINDS = frozenset({"devis"})
COMMERCIAL_PURPOSES = frozenset({"bilan_global"})

# The guide's steps, in their order.
STEPS = ("profile_validated", "contracts_validated", "consent_given", "needs_and_protections", "proposals")
# Every deviation code, in the order a reviewer reads them.
DEVIATIONS = (
    "profile_missing",
    "profile_late",
    "contracts_missing",
    "contracts_late",
    "consent_missing",
    "consent_wording_missing",
    "commercial_before_consent",
    "commercial_after_refusal",
    "commercial_under_opposition",
    "needs_missing",
    "proposal_without_reason",
    "priority_without_reason",
)


@dataclass(frozen=True)
class TrailFact:
    """One audit entry as the verdict reads it: what happened, its data, when."""

    name: str
    data: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class Deviation:
    """One departure from the guide's order: its code, and the trail entry that shows it."""

    code: str
    at: datetime
    fact: str


@dataclass(frozen=True)
class Consent:
    """The client's last answer to the consent question: given or declined, the wording asked, when."""

    agreed: bool
    wording: str | None
    at: datetime
    withdrawn_at: datetime | None = None

    @property
    def in_force(self) -> bool:
        return self.agreed and self.withdrawn_at is None


@dataclass(frozen=True)
class Proposal:
    """A commercial action of the plan and the reason given for it (duty of advice)."""

    kind: str
    purpose: str | None
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class Verdict:
    steps: dict[str, datetime | None]  # step -> when the trail first shows it, in the guide's order
    consent: Consent | None
    protections: dict[str, str]  # protection -> its last answer
    priorities: dict[str, str | None]  # protection -> the reason it is a priority
    needs: list[str]
    proposals: list[Proposal]
    deviations: list[Deviation]
    closings: list[datetime] = field(default_factory=list)  # every closing, a reopened case's included
    reopenings: list[datetime] = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        return not self.deviations


# Rank of what the trail shows, in the guide's order: each administrative step must come before any higher rank.
_PROFILE, _CONTRACTS, _CONSENT, _COMMERCIAL, _PROPOSAL = range(5)
_ADMIN_STEPS = {_PROFILE: "profile", _CONTRACTS: "contracts"}


@dataclass
class _Walk:
    """The trail read so far."""

    first: dict[str, datetime] = field(default_factory=dict)
    consent: Consent | None = None
    protections: dict[str, str] = field(default_factory=dict)
    priorities: dict[str, str | None] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    too_early: dict[int, TrailFact] = field(default_factory=dict)  # admin step -> first fact that came before it
    opposed: bool = False
    # What the last closing shows missing: a reopening withdraws it, the next closing is judged afresh.
    at_closing: list[Deviation] = field(default_factory=list)
    closings: list[datetime] = field(default_factory=list)
    reopenings: list[datetime] = field(default_factory=list)

    def step(self, name: str, fact: TrailFact) -> None:
        self.first.setdefault(name, fact.at)

    def deviate(self, code: str, fact: TrailFact) -> None:
        self.deviations.append(Deviation(code, fact.at, fact.name))

    def reached(self, rank: int, fact: TrailFact) -> None:
        """`fact` of this rank happened: note each administrative step of lower rank not validated yet."""
        for admin_rank, name in _ADMIN_STEPS.items():
            if admin_rank < rank and f"{name}_validated" not in self.first:
                self.too_early.setdefault(admin_rank, fact)

    def commercial(self, fact: TrailFact) -> None:
        """A commercial fact is allowed only while the client's consent is in force, and never under opposition."""
        if self.opposed:
            self.deviate("commercial_under_opposition", fact)
        elif self.consent is None:
            self.deviate("commercial_before_consent", fact)
        elif not self.consent.in_force:
            self.deviate("commercial_after_refusal", fact)

    def result(self) -> Verdict:
        for admin_rank, fact in self.too_early.items():
            name = _ADMIN_STEPS[admin_rank]
            self.deviate(f"{name}_late" if f"{name}_validated" in self.first else f"{name}_missing", fact)
        order = {code: n for n, code in enumerate(DEVIATIONS)}
        deviations = sorted([*self.deviations, *self.at_closing], key=lambda d: (order[d.code], d.at))
        return Verdict(steps={name: self.first.get(name) for name in STEPS}, consent=self.consent,
                       protections=self.protections, priorities=self.priorities, needs=self.needs,
                       proposals=self.proposals, deviations=deviations, closings=self.closings,
                       reopenings=self.reopenings)


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def _profile(walk: _Walk, fact: TrailFact) -> None:
    walk.reached(_PROFILE, fact)
    walk.step("profile_validated", fact)


def _contracts(walk: _Walk, fact: TrailFact) -> None:
    walk.reached(_CONTRACTS, fact)
    walk.step("contracts_validated", fact)


def _consent(walk: _Walk, fact: TrailFact) -> None:
    walk.reached(_CONSENT, fact)
    agreed = fact.name == CONSENT_GIVEN or (fact.name == CONSENT_RECORDED and fact.data.get("agreed") is True)
    walk.consent = Consent(agreed=agreed, wording=_text(fact.data, "wording"), at=fact.at)
    if agreed:
        walk.step("consent_given", fact)
        if walk.consent.wording is None:
            walk.deviate("consent_wording_missing", fact)


def _withdrawal(walk: _Walk, fact: TrailFact) -> None:
    if walk.consent is not None and walk.consent.in_force:
        walk.consent = Consent(True, walk.consent.wording, walk.consent.at, withdrawn_at=fact.at)


def _opposition(walk: _Walk, fact: TrailFact) -> None:
    walk.opposed = fact.name == OPPOSITION_SET


def _needs_fact(walk: _Walk, fact: TrailFact) -> None:
    walk.reached(_COMMERCIAL, fact)
    walk.commercial(fact)
    walk.step("needs_and_protections", fact)


def _protection(walk: _Walk, fact: TrailFact) -> None:
    _needs_fact(walk, fact)
    protection, answer = str(fact.data.get("protection")), str(fact.data.get("answer"))
    walk.protections[protection] = answer
    if answer == HELD_ELSEWHERE:
        walk.priorities.pop(protection, None)


def _priority(walk: _Walk, fact: TrailFact) -> None:
    _needs_fact(walk, fact)
    protection = str(fact.data.get("protection"))
    if fact.data.get("priority") is not True:
        walk.priorities.pop(protection, None)
        return
    walk.priorities[protection] = reason = _text(fact.data, "reason")
    if reason is None:
        walk.deviate("priority_without_reason", fact)


def _need(walk: _Walk, fact: TrailFact) -> None:
    _needs_fact(walk, fact)
    walk.needs.append(_text(fact.data, "text") or "")


def _action(walk: _Walk, fact: TrailFact) -> None:
    kind, purpose = str(fact.data.get("kind")), fact.data.get("purpose")
    if kind not in COMMERCIAL_KINDS and purpose not in COMMERCIAL_PURPOSES and fact.data.get("aim") != COMMERCIAL_AIM:
        return  # an administrative follow-up (a relance for a missing piece…) is no proposal
    walk.reached(_PROPOSAL, fact)
    walk.commercial(fact)
    if "needs_and_protections" not in walk.first:
        walk.deviate("needs_missing", fact)
    walk.step("proposals", fact)
    proposal = Proposal(kind=kind, purpose=purpose, reason=_text(fact.data, "reason"), at=fact.at)
    walk.proposals.append(proposal)
    if proposal.reason is None:
        walk.deviate("proposal_without_reason", fact)


def _closing(walk: _Walk, fact: TrailFact) -> None:
    """What a completed call must show by its closing; only the last closing counts (a reopened case is
    judged on how it finally closed, its earlier closings stay listed in `closings`)."""
    walk.closings.append(fact.at)
    walk.at_closing = []
    if fact.data.get("reason") != COMPLETED:
        return  # closed early (unreachable, refusal, duplicate): the call did not go further, nothing is due
    missing = [f"{name}_missing" for rank, name in _ADMIN_STEPS.items()
               if f"{name}_validated" not in walk.first and rank not in walk.too_early]
    if walk.consent is None:
        missing.append("consent_missing")
    elif walk.consent.in_force and "needs_and_protections" not in walk.first:
        missing.append("needs_missing")
    walk.at_closing = [Deviation(code, fact.at, fact.name) for code in missing]


def _reopening(walk: _Walk, fact: TrailFact) -> None:
    walk.reopenings.append(fact.at)
    walk.at_closing = []


_READERS: dict[str, Callable[[_Walk, TrailFact], None]] = {
    PROFILE_VALIDATED: _profile,
    CONTRACTS_VALIDATED: _contracts,
    CONSENT_RECORDED: _consent,
    CONSENT_GIVEN: _consent,
    CONSENT_DECLINED: _consent,
    CONSENT_WITHDRAWN: _withdrawal,
    OPPOSITION_SET: _opposition,
    OPPOSITION_LIFTED: _opposition,
    PROTECTION_ANSWERED: _protection,
    PRIORITY_SET: _priority,
    NEED_RECORDED: _need,
    ACTION_ADDED: _action,
    CASE_CLOSED: _closing,
    CASE_REOPENED: _reopening,
}


def verdict(facts: Iterable[TrailFact]) -> Verdict:
    """The verdict of the case whose audit facts these are, in the order they were recorded. Facts of other
    names (attempts, answers field by field, Slack bookkeeping…) are not part of the verdict."""
    walk = _Walk()
    for fact in facts:
        reader = _READERS.get(fact.name)
        if reader is not None:
            reader(walk, fact)
    return walk.result()


# --- In French, for the command line and the PDF ----------------------------------------------------------


def _t(key: str, **values: Any) -> str:
    return texts.t(f"verdict.{key}", **values)


def describe(found: Verdict, moment: Callable[[datetime], str]) -> list[str]:
    """The verdict as French lines: the conclusion, each step with its time and details, each deviation."""
    lines = [_t("compliant") if found.compliant else _t("not_compliant", count=len(found.deviations))]
    for step in STEPS:
        at = found.steps[step]
        name = _t(f"steps.{step}")
        lines.append(_t("step_done", step=name, at=moment(at)) if at else _t("step_missing", step=name))
        if step == "consent_given" and found.consent is not None:
            lines.append(_consent_line(found.consent, moment))
        elif step == "needs_and_protections" and at:
            lines.append(_t("needs_line", protections=len(found.protections), priorities=len(found.priorities),
                            needs=len(found.needs)))
        elif step == "proposals":
            lines += [_proposal_line(p, moment) for p in found.proposals]
    lines += [_t("reopened", at=moment(at)) for at in found.reopenings]
    lines += [_t("deviation", label=_t(f"deviations.{d.code}"), code=d.code, at=moment(d.at))
              for d in found.deviations]
    return lines


def _consent_line(consent: Consent, moment: Callable[[datetime], str]) -> str:
    line = _t("consent_given" if consent.agreed else "consent_declined", at=moment(consent.at),
              wording=consent.wording or _t("no_wording"))
    if consent.withdrawn_at is not None:
        line += _t("consent_withdrawn", at=moment(consent.withdrawn_at))
    return line


def _proposal_line(proposal: Proposal, moment: Callable[[datetime], str]) -> str:
    kind = texts.t(f"labels.plan_kind.{proposal.kind}")
    purpose = f" ({texts.t(f'labels.plan_purpose.{proposal.purpose}')})" if proposal.purpose else ""
    return _t("proposal", kind=kind, purpose=purpose, at=moment(proposal.at),
              reason=proposal.reason or _t("no_reason"))
