"""Telling people: each filing or correction step that hands work to someone else notifies them (in-app, and
by mail when they have an address), in the same transaction as the step, in the recipient's language."""

from collections.abc import Callable, Iterable

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments import services as attachments
from drillmgr.drills.models import Drill
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.findings.models import Finding, Review
from drillmgr.formatting import local_date
from drillmgr.notifications import services as notifications
from drillmgr.notifications.services import Kind

Text = Callable[[], str]


def _tell(
    users: Iterable[User | None],
    kind: str,
    key: str,
    link: str,
    subject: Text,
    body: Text,
    finding: Finding | None = None,
) -> None:
    """`subject` and `body` are callables, so that they are translated for each recipient. About a
    finding, only those who may see it are told (never an outsider of a secret drill)."""
    messages = []
    for user in {u.id: u for u in users if u is not None}.values():
        if finding is not None and not access.can_view_finding(user, finding):
            continue
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            messages.append(notifications.Message(user, kind, subject(), body(), link, f"{key}:{user.id}"))
    notifications.notify_many(messages)


def drill_link(drill: Drill) -> str:
    return notifications.link_to("drills.detail", drill_id=drill.id) or notifications.link_to(
        "findings.drill", drill_id=drill.id
    )


def _finding_link(finding: Finding) -> str:
    if finding.drill_id is not None:
        drill = finding.drill or db.session.get(Drill, finding.drill_id)
        assert drill is not None  # drill_id is a foreign key
        return drill_link(drill)
    return notifications.link_to("findings.finding", finding_id=finding.id)


def _region_coordinators(region_code: str) -> list[User]:
    """Active coordinators whose region contains this one: those who decide on filing."""
    return list(
        db.session.scalars(
            sa.select(User).where(User.role == Role.COORDINATOR, access.action_owner_clause(region_code, ()))
        )
    )


def _involved(drill: Drill, review: Review, accepted_by_id: int | None) -> list[User]:
    """Everyone a reopened filing concerns: the organising unit's staff (or the organising region's
    coordinators), whoever submitted and accepted it, the evaluators, and the region's coordinators."""
    users: list[User | None] = [*_region_coordinators(drill.region_code), *drill.evaluators]
    if drill.organizer_org_id is not None:
        users += db.session.scalars(
            sa.select(User).where(
                User.org_id == drill.organizer_org_id, User.role == Role.ORG_STAFF, User.active.is_(True)
            )
        )
    elif drill.organizer_region_code:
        users += _region_coordinators(drill.organizer_region_code)
    users += [db.session.get(User, user_id) for user_id in {review.submitted_by_id, accepted_by_id} if user_id]
    return [u for u in users if u is not None and u.active]


def _name(user: User) -> str:
    return user.display_name or user.username


def tell_filing(actor: User, review: Review, action: str, accepted_by_id: int | None = None) -> None:
    """Who a filing step hands the review to: the region's coordinators (submitted), everyone involved
    (reopened; `accepted_by_id` accepted the filing it reopens), the submitter (accepted or returned)."""
    drill = review.drill or db.session.get(Drill, review.drill_id)
    assert drill is not None  # drill_id is a foreign key
    key, link = f"{action}:{drill.id}:{review.version}", drill_link(drill)
    if action == "review.submit":
        recipients = [u for u in _region_coordinators(drill.region_code) if u.id != actor.id]
        _tell(
            recipients,
            Kind.REVIEW_SUBMITTED,
            key,
            link,
            lambda: _("After-action review submitted for filing: %(title)s", title=drill.title),
            lambda: _(
                "%(who)s submitted the after-action review of %(title)s. Accept it or return it with a reason.",
                who=_name(actor),
                title=drill.title,
            ),
        )
        return
    if action == "review.reopen":
        _tell(
            [u for u in _involved(drill, review, accepted_by_id) if u.id != actor.id],
            Kind.REVIEW_REOPENED,
            key,
            link,
            lambda: _("Filing reopened: %(title)s", title=drill.title),
            lambda: _(
                "%(who)s reopened the filed after-action review of %(title)s, so that its record can be "
                "corrected; it must be submitted and accepted again. Reason: %(reason)s",
                who=_name(actor),
                title=drill.title,
                reason=review.return_reason,
            ),
        )
        return
    submitter = review.submitted_by
    if submitter is None or submitter.id == actor.id:
        return
    if action == "review.accept":
        _tell(
            [submitter],
            Kind.REVIEW_DECIDED,
            key,
            link,
            lambda: _("After-action review filed: %(title)s", title=drill.title),
            lambda: _("The after-action review of %(title)s was accepted and filed.", title=drill.title),
        )
    else:
        _tell(
            [submitter],
            Kind.REVIEW_DECIDED,
            key,
            link,
            lambda: _("After-action review returned: %(title)s", title=drill.title),
            lambda: _(
                "The after-action review of %(title)s was returned for revision. Reason: %(reason)s",
                title=drill.title,
                reason=review.return_reason,
            ),
        )


def _action_details(finding: Finding) -> str:
    action = finding.corrective_action
    return "\n".join(
        [
            _("Finding: %(summary)s", summary=finding.summary),
            _("Corrective action: %(text)s", text=action.description),
            _("Due on %(date)s", date=local_date(action.due_on)),
        ]
    )


def tell_assigned(actor: User, finding: Finding) -> None:
    owner = db.session.get(User, finding.corrective_action.owner_id)
    assert owner is not None  # owner_id is a foreign key
    if owner.id == actor.id:
        return
    _tell(
        [owner],
        Kind.ACTION_ASSIGNED,
        f"action.assign:{finding.id}:{finding.version}",
        _finding_link(finding),
        lambda: _("A corrective action is yours: %(summary)s", summary=finding.summary),
        lambda: _action_details(finding),
        finding,
    )


def tell_step(actor: User, finding: Finding, step: str, reason: str) -> None:
    key = f"{step}:{finding.id}:{finding.version}"
    action = finding.corrective_action
    if step == "action.done":
        checker = db.session.get(User, finding.created_by_id) if finding.created_by_id else None
        if checker is not None and checker.id != actor.id:
            files = len(attachments.evidence_of([action.id]).get(action.id, []))
            _tell(
                [checker],
                Kind.ACTION_DONE,
                key,
                _finding_link(finding),
                lambda: _("Corrective action awaiting verification: %(summary)s", summary=finding.summary),
                lambda: _action_details(finding) + "\n" + _("Evidence: %(n)d files", n=files),
                finding,
            )
    elif step == "action.send_back":
        _tell(
            [action.owner],
            Kind.ACTION_SENT_BACK,
            key,
            _finding_link(finding),
            lambda: _("Corrective action sent back: %(summary)s", summary=finding.summary),
            lambda: _("What is still missing: %(reason)s", reason=reason) + "\n" + _action_details(finding),
            finding,
        )
