"""The last status seen per rule and subject, so that the nightly job alerts each worsening once."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from drillmgr.compliance.models import ComplianceSnapshot
from drillmgr.compliance.results import RANK, RuleResult
from drillmgr.db import utcnow
from drillmgr.enums import ComplianceStatus
from drillmgr.extensions import db

Worsening = tuple[dict[str, Any], str, ComplianceStatus, ComplianceStatus]  # subject, rule key, old, new


def snapshot_changes(results: list[RuleResult], now: datetime | None = None) -> list[Worsening]:
    """Stores each subject's status and returns the worsenings since the last run, as
    (subject, rule_key, old, new); running it again with the same results returns nothing.

    The caller's unit of work commits the new snapshots together with the alerts it sends about them."""
    now = now or utcnow()
    if not results:
        return []
    year = results[0].rule.year
    keys = [r.key for r in results]
    stored = {
        (s.rule_key, s.subject_type, s.subject_id): s
        for s in db.session.scalars(
            sa.select(ComplianceSnapshot).where(ComplianceSnapshot.year == year, ComplianceSnapshot.rule_key.in_(keys))
        )
    }
    worsened: list[Worsening] = []
    for rule_result in results:
        for result in rule_result.results:
            snap = stored.get((rule_result.key, result.subject_type, result.subject_id))
            if snap is None:
                db.session.add(
                    ComplianceSnapshot(
                        rule_key=rule_result.key,
                        year=year,
                        subject_type=result.subject_type,
                        subject_id=result.subject_id,
                        status=result.status,
                        evaluated_at=now,
                    )
                )
                continue
            if RANK[result.status] < RANK[snap.status]:
                worsened.append((result.subject_dict(), rule_result.key, snap.status, result.status))
            if snap.status != result.status:
                snap.status = result.status
            snap.evaluated_at = now
    db.session.flush()
    return worsened
