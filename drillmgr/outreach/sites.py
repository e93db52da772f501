"""Demonstration sites: demonstration communities, science education bases and schools, and their status."""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.db import claim_version
from drillmgr.enums import SiteKind, SiteStatus
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.outreach.models import DemonstrationSite
from drillmgr.outreach.schemas import DemonstrationSiteSchema
from drillmgr.regions.models import Region

SITE_FIELDS = ("kind", "name", "region_code", "org_id", "status", "year")


def _read_site(data: dict[str, Any], partial: bool) -> tuple[Reading, dict[str, Any]]:
    p = DemonstrationSiteSchema().read(data, partial=partial)
    values = {f: v for f, v in p.values.items() if f in SITE_FIELDS}
    if "org_id" in data and data["org_id"] is None:
        values["org_id"] = None
    if values.get("region_code") and db.session.get(Region, values["region_code"]) is None:
        p.error("region_code", _("No such region: %(code)s.", code=values["region_code"]))
    if values.get("org_id") is not None and db.session.get(Organisation, values["org_id"]) is None:
        p.error("org_id", _("No such organisation."))
    return p, values


def create_site(actor: User, data: dict[str, Any], is_demo: bool = False) -> DemonstrationSite:
    p, values = _read_site(data, partial=False)
    p.check()
    _require_site_scope(actor, values["region_code"], values.get("org_id"))
    site = DemonstrationSite(**values, is_demo=is_demo)
    db.session.add(site)
    db.session.flush()
    audit.record(actor, "site.create", "demonstration_site", site.id, None, audit.snapshot(site, SITE_FIELDS))
    return site


def update_site(actor: User, site: DemonstrationSite, data: dict[str, Any]) -> DemonstrationSite:
    _require_site_scope(actor, site.region_code, site.org_id)
    p, values = _read_site(data, partial=True)
    p.check()
    _require_site_scope(actor, values.get("region_code", site.region_code), values.get("org_id", site.org_id))
    claim_version(
        site,
        p.values.get("version"),
        _("Someone else changed this site meanwhile. Reload it and apply your change again."),
    )
    before = audit.snapshot(site, SITE_FIELDS)
    for field, value in values.items():
        setattr(site, field, value)
    audit.record(actor, "site.update", "demonstration_site", site.id, before, audit.snapshot(site, SITE_FIELDS))
    return site


def _require_site_scope(actor: User, region_code: str, org_id: int | None) -> None:
    allowed = access.can_manage_sites(actor, region_code)
    if allowed and org_id is not None:
        org = db.session.get(Organisation, org_id)
        assert org is not None  # checked by _read_site, or a foreign key
        allowed = access.can_manage_sites(actor, org.region_code)
    access.require(allowed, _("You cannot manage demonstration sites in this region."))


def get_visible_site(user: User, site_id: int) -> DemonstrationSite:
    site = db.session.get(DemonstrationSite, site_id)
    if site is None or not access.can_view_site(user, site):
        access.not_found(_("No such demonstration site."))
    return site


def manageable_sites(user: User, sites: Sequence[DemonstrationSite]) -> dict[int, bool]:
    """can_manage_sites for each of `sites`, in one query rather than one per row."""
    codes = {site.region_code for site in sites}
    manageable = (
        set(
            db.session.scalars(
                sa.select(Region.code).where(Region.code.in_(codes), access.manage_region_clause(user, Region.code))
            )
        )
        if codes
        else set()
    )
    return {site.id: site.region_code in manageable for site in sites}


def site_query(
    user: User, kind: SiteKind | None = None, status: SiteStatus | None = None, region: str | None = None
) -> sa.Select[tuple[DemonstrationSite]]:
    query = sa.select(DemonstrationSite).where(access.site_clause(user))
    if kind:
        query = query.where(DemonstrationSite.kind == kind)
    if status:
        query = query.where(DemonstrationSite.status == status)
    if region:
        query = query.where(DemonstrationSite.region_code.in_(access.subtree_codes(region)))
    return query.order_by(DemonstrationSite.year.desc(), DemonstrationSite.region_code, DemonstrationSite.name)
