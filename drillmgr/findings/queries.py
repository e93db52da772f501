"""The list of open corrective actions: its filters, and its pages loaded in a fixed number of queries."""

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy.orm import contains_eager, joinedload, lazyload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.enums import ActionStatus
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.findings.schemas import ActionFiltersSchema

OPEN_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.DONE)
FLAGS = ("mine", "overdue")


def read_action_filters(args: dict[str, Any]) -> dict[str, Any]:
    """Validates the list's filters: region, org, severity, category, status, mine, overdue."""
    reading = ActionFiltersSchema().read({k: v for k, v in args.items() if v not in ("", None)}, partial=True)
    filters = reading.values
    if filters.get("status") == ActionStatus.VERIFIED:
        reading.error("status", _("Verified actions are closed; this list shows the open ones."))
    for flag in FLAGS:
        if flag in filters and filters[flag] not in ("0", "1", "true", "false"):
            reading.error(flag, _("Must be true or false."))
    reading.check()
    return filters | {flag: filters.get(flag) in ("1", "true") for flag in FLAGS}


def open_actions_query(user: User, today: date, filters: dict[str, Any] | None = None) -> sa.Select[tuple[int]]:
    """The ids of the open (not yet verified) corrective actions in the user's scope, overdue first,
    then by due date. Narrow on purpose: only the page's rows are then loaded in full."""
    filters = filters or {}
    overdue = sa.and_(
        CorrectiveAction.status.in_((ActionStatus.OPEN, ActionStatus.IN_PROGRESS)), CorrectiveAction.due_on < today
    )
    query = (
        sa.select(CorrectiveAction.id)
        .join(CorrectiveAction.finding)
        .where(access.finding_clause(user), CorrectiveAction.status.in_(OPEN_STATUSES))
    )
    if filters.get("region"):
        query = query.where(Finding.region_code.in_(access.subtree_codes(filters["region"])))
    if filters.get("org"):
        query = query.where(Finding.org_id == filters["org"])
    for name, column in (
        ("severity", Finding.severity),
        ("category", Finding.category),
        ("status", CorrectiveAction.status),
    ):
        if filters.get(name):
            query = query.where(column == filters[name])
    if filters.get("mine"):
        query = query.where(CorrectiveAction.owner_id == user.id)
    if filters.get("overdue"):
        query = query.where(overdue)
    return query.order_by(sa.case((overdue, 0), else_=1), CorrectiveAction.due_on, CorrectiveAction.id)


def load_actions(ids: list[int]) -> list[CorrectiveAction]:
    """The actions with these ids, in this order, with everything a list row shows (one query)."""
    if not ids:
        return []
    rows = db.session.scalars(
        sa.select(CorrectiveAction)
        .join(CorrectiveAction.finding)
        .where(CorrectiveAction.id.in_(ids))
        .options(
            contains_eager(CorrectiveAction.finding).contains_eager(Finding.corrective_action),
            contains_eager(CorrectiveAction.finding).options(
                joinedload(Finding.drill).options(lazyload("*")), joinedload(Finding.org), joinedload(Finding.region)
            ),
            joinedload(CorrectiveAction.owner),
        )
    ).unique()
    by_id = {action.id: action for action in rows}
    return [by_id[i] for i in ids]


class ActionPagination(SelectPagination):
    """A page of open_actions_query(): the ids page by page, then the page's actions in full."""

    def _query_items(self) -> list[CorrectiveAction]:
        ids = super()._query_items()
        return load_actions(ids)


def open_actions_page(
    user: User, today: date, filters: dict[str, Any] | None = None, page: int = 1, per_page: int = 50
) -> ActionPagination:
    return ActionPagination(
        select=open_actions_query(user, today, filters),
        session=db.session(),
        page=page,
        per_page=per_page,
        max_per_page=per_page,
        error_out=False,
    )
