"""Reading a drill's input: its fields, the people and places it names, and who may organise it."""

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.drills.key_links import default_focus
from drillmgr.api.schema import Reading
from drillmgr.drills.models import Drill
from drillmgr.drills.schemas import DrillSchema
from drillmgr.enums import DrillScope
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

Values = dict[str, Any]


# Plain columns a payload may set directly; focus, participants and evaluators are handled apart.
# What a plan says of a drill besides its time, focus and people; the audit and the series template extend it.
PLAN_COLUMNS = (
    "title",
    "description",
    "form",
    "scope",
    "double_blind",
    "joint_with",
    "magnitude",
    "conditions",
    "organizer_org_id",
    "organizer_region_code",
    "region_code",
    "location",
    "public",
)
COLUMN_FIELDS = (*PLAN_COLUMNS, "starts_at", "ends_at")
EARLIEST, LATEST = datetime(1990, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc)


def read_drill(data: Values, partial: bool, schema: type[DrillSchema] = DrillSchema) -> tuple[Reading, Values]:
    """The drill fields of `data` that were sent, read (the scenario's among them); what is wrong is on the
    Reading."""
    p = schema().read(data, partial=partial)
    values = dict(p.values)
    scenario = values.pop("scenario", {})
    values |= {k: v for k, v in scenario.items() if k in ("magnitude", "conditions")}
    if "conditions" in values:
        values["conditions"] = [c.value for c in values["conditions"]]
    for field in ("starts_at", "ends_at"):
        moment = values.get(field)
        if isinstance(moment, datetime) and not EARLIEST <= moment < LATEST:
            p.error(field, _("Must be between 1990 and 2100."))
    return p, values


def orgs_by_ids(ids: list[int]) -> list[Organisation]:
    return list(db.session.scalars(sa.select(Organisation).where(Organisation.id.in_(ids)))) if ids else []


def check_references(actor: User, p: Reading, values: Values, drill: Drill | None = None) -> None:
    """Regions, organisations and users named in the payload exist and are the actor's to name.
    Those already on `drill` may stay, even if someone with a wider scope put them there."""
    for field in ("region_code", "organizer_region_code"):
        code = values.get(field)
        if code and db.session.get(Region, code) is None:
            p.error(field, _("No such region: %(code)s.", code=code))
    org_id = values.get("organizer_org_id")
    if org_id is not None and db.session.get(Organisation, org_id) is None:
        p.error("organizer_org_id", _("No such organisation: %(id)s.", id=org_id))
    already = (drill.participants, drill.evaluators) if drill is not None else ([], [])
    _check_in_scope(
        p,
        values,
        "participant_org_ids",
        access.participant_candidate_clause(actor),
        already[0],
        _("No such organisation in your scope: %(id)s."),
    )
    _check_in_scope(
        p,
        values,
        "evaluator_ids",
        access.evaluator_candidate_clause(actor),
        already[1],
        _("No such user in your scope: %(id)s."),
    )


def _check_in_scope(
    p: Reading,
    values: Values,
    field: str,
    clause: sa.ColumnElement[bool],
    already: Sequence[Organisation | User],
    message: str,
) -> None:
    """The ids of `field` name rows `clause` admits, or ones the drill has already."""
    if field not in values:
        return
    model = Organisation if field == "participant_org_ids" else User
    found = (
        set(db.session.scalars(sa.select(model.id).where(model.id.in_(values[field]), clause)))
        if values[field]
        else set()
    )
    found |= {row.id for row in already}
    for missing in [i for i in values[field] if i not in found]:
        p.error(field, message % {"id": missing})


def check_times(p: Reading, starts_at: object, ends_at: object, field: str = "ends_at") -> None:
    """`starts_at` and `ends_at` as read: possibly missing or None."""
    if isinstance(starts_at, datetime) and isinstance(ends_at, datetime) and ends_at <= starts_at:
        p.error(field, _("The end must be after the start."))


def organizer_of(values: Values, drill: Drill | None = None) -> tuple[Organisation | None, str | None]:
    if "organizer_org_id" in values:
        return db.session.get(Organisation, values["organizer_org_id"]), None
    if values.get("organizer_region_code"):
        return None, values["organizer_region_code"]
    if drill is not None:
        return drill.organizer_org, drill.organizer_region_code
    return None, None


def validate_new(actor: User, data: Values, schema: type[DrillSchema] = DrillSchema) -> tuple[Reading, Values]:
    """A new drill's fields, read and checked (not yet whether the actor may organise it)."""
    p, values = read_drill(data, partial=False, schema=schema)
    values.pop("version", None)
    values.setdefault("scope", DrillScope.SINGLE)
    has_org, has_region = "organizer_org_id" in values, bool(values.get("organizer_region_code"))
    if has_org == has_region:
        p.error("organizer_org_id", _("Choose exactly one organiser: an organisation or a region."))
    check_references(actor, p, values)
    check_times(p, values.get("starts_at"), values.get("ends_at"))
    if not p.errors and not values.get("region_code"):
        org, region = organizer_of(values)
        values["region_code"] = org.region_code if org is not None else region
    if not p.errors and "focus" not in values:
        values["focus"] = default_focus(values["form"], values["scope"], values["region_code"])
    return p, values


def check_may_organise(actor: User, values: Values, drill: Drill | None = None) -> None:
    org, region = organizer_of(values, drill)
    access.require(access.can_organise_for(actor, org, region), _("You cannot plan drills for this organiser."))
    region_code = values.get("region_code") or (drill.region_code if drill else None)
    if (
        region_code
        and not access.can_view_region(actor, region_code)
        and not (org is not None and org.region_code == region_code)
    ):
        access.deny(_("You cannot plan drills in this region."))


def read_change(data: Values, schema: type[DrillSchema] = DrillSchema) -> tuple[Reading, Values]:
    """The fields a change sends (any of them); the version of the drill it is based on is required."""
    p, values = read_drill(data, partial=True, schema=schema)
    if "version" not in values and "version" not in p.errors:
        p.error("version", _("Send the version of the drill your change is based on."))
    return p, values


def check_may_reorganise(actor: User, values: Values, drill: Drill) -> None:
    """A change that names another organiser or region must be one the actor may organise."""
    if "organizer_org_id" in values or values.get("organizer_region_code") or "region_code" in values:
        check_may_organise(actor, values, drill)
