from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.db import utcnow
from drillmgr.extensions import Model


class CacheEntry(Model):
    """One rendered or computed value shared by every worker and machine (when no Redis is configured).

    `key` names the slot (a drill's event in one style, a feed link's body, a kept compliance result),
    `tag` the version of the data it was made from: a reader takes the value only when the tag it
    expects is the one stored. A slot is overwritten, never added beside, so the table holds at most
    one value per slot; `prune` keeps its total size under DRILLMGR_CACHE_MAX_BYTES."""

    __tablename__ = "cache_entries"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[bytes] = mapped_column(sa.LargeBinary)
    size: Mapped[int]
    stored_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CacheGeneration(Model):
    """A counter raised in the same transaction as every change of the data it stands for, so that
    a value kept under an older generation is never served (see drillmgr.cache.generations)."""

    __tablename__ = "cache_generations"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class CountyChange(Model):
    """What one commit changed of a county's compliance, beside the rise of its generation from
    `generation_from` to `generation_to`: its county rules and the unit rules of `org_ids` alone (a
    change of a unit or a region, which can alter any unit's, is not noted), and of what is held in
    `region_codes` alone (the regions its changed drills, reviews, findings and activities are held in; None
    in notes made before they were noted). A kept result of the county made under `generation_from` is brought
    to `generation_to` by evaluating only those again, and counting again only those regions' drills where a
    rule's totals are kept region by region (drillmgr.compliance.kept). Kept a few minutes: a kept result older
    than that is evaluated again whole."""

    __tablename__ = "compliance_changes"
    __table_args__ = (sa.Index("ix_compliance_changes_county", "county_code", "generation_to"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(12))
    generation_from: Mapped[int] = mapped_column(sa.BigInteger)
    generation_to: Mapped[int] = mapped_column(sa.BigInteger)
    org_ids: Mapped[list[int]] = mapped_column(sa.JSON)
    region_codes: Mapped[list[str] | None] = mapped_column(sa.JSON)
    made_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
