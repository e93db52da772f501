"""What every part of an exercise asks before it changes anything: who may design or control it, whether the
drill still takes changes, and the shared readers and messages of the exercise's services.

Services know nothing of the request: they take the acting user and plain data, check access here, and raise
drillmgr.errors exceptions that the views and the API turn into answers. They flush, never commit: the request
(drillmgr.unit_of_work) keeps or discards the whole of what they did."""

from typing import Any

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.db import claim_version
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import require_not_filed
from drillmgr.enums import DrillStatus
from drillmgr.errors import Conflict
from drillmgr.extensions import Model, db


def stale(what: str) -> str:
    return str(_("Someone else changed this %(what)s meanwhile. Reload it and apply your change again.", what=what))


def require_design(actor: User, drill: Drill) -> None:
    access.require(access.can_design_exercise(actor, drill), _("Only the drill's organisers design its exercise."))
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("The drill is cancelled."))
    require_not_filed(drill)


def require_controller(actor: User, drill: Drill) -> None:
    access.require(access.can_design_exercise(actor, drill), _("Only the drill's organisers control its exercise."))


def drill_of(row: Any) -> Drill:
    """The drill an exercise row (objective, inject) belongs to."""
    drill = db.session.get(Drill, row.drill_id)
    assert drill is not None  # drill_id is a foreign key
    return drill


def add_once(row: Model, conflict: str) -> None:
    """Adds a row a unique key allows once (a session, an answer, an evaluation): when another request added it
    meanwhile, a Conflict, and the rest of the unit of work is left as it was (a savepoint)."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise Conflict(conflict) from None


def require_unreleased(inject: Any) -> None:
    if inject.released_at is not None:
        raise Conflict(_("This inject has been released to the players; it stays as it was."))


def record_added(actor: User, row: Any, action: str, fields: tuple[str, ...], conflict: str | None = None) -> None:
    """Adds `row` (once, when a unique key allows it once: `conflict`), flushed for its id, and audits it as
    `action`, whose first word names the row's kind."""
    if conflict is None:
        db.session.add(row)
        db.session.flush()
    else:
        add_once(row, conflict)
    audit.record(actor, action, action.partition(".")[0], row.id, None, audit.snapshot(row, fields))


def revise(
    actor: User,
    row: Any,
    values: dict[str, Any],
    version: int | None,
    stale_message: str,
    action: str,
    fields: tuple[str, ...],
    **claimed: Any,
) -> None:
    """Applies `values` to `row` if it is still at `version` (else a Conflict saying `stale_message`) and
    audits the change as `action`, whose first word names the row's kind."""
    before = audit.snapshot(row, fields)
    claim_version(row, version, stale_message, **claimed)
    for name, value in values.items():
        setattr(row, name, value)
    audit.record(actor, action, action.partition(".")[0], row.id, before, audit.snapshot(row, fields))


def require_given(p: Reading, data: dict[str, Any], name: str, partial: bool, blank: bool = False) -> None:
    """A field a schema reads as optional, required here: it must be given (unless the change is `partial`), and
    not `blank` when it is; a field already refused for another reason is left at that."""
    if name in p.errors:
        return
    absent = data.get(name) is None
    if (absent and not partial) or (not absent and blank):
        p.error(name, _("This field is required."))
