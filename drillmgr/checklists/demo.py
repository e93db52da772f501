"""Demo readiness data: most demo schools, kindergartens and hospitals ran their checklist this term,
some answered "no" somewhere; the demo school's last run is from the previous term, so it is due."""

import random
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from drillmgr.accounts.models import User
from drillmgr.checklists.models import ChecklistAnswer, ChecklistRun, ChecklistTemplate
from drillmgr.checklists.readiness import term_bounds
from drillmgr.checklists.templates import ensure_default_templates
from drillmgr.enums import Answer
from drillmgr.extensions import db
from drillmgr.localtime import local_zone
from drillmgr.orgs.models import Organisation

SHARE_READY = 0.7
SHARE_WITH_NO = 0.2


def seed_readiness_demo(today: date, rng: random.Random) -> int:
    """Completed standing readiness runs for demo units that have none yet; returns how many."""
    ensure_default_templates()
    templates = {
        t.org_kind: t
        for t in db.session.scalars(
            sa.select(ChecklistTemplate).where(
                ChecklistTemplate.active.is_(True), ChecklistTemplate.org_kind.is_not(None)
            )
        )
    }
    items = {t.id: [i.id for i in t.items if i.active] for t in templates.values()}
    done = sa.select(ChecklistRun.org_id).where(ChecklistRun.org_id.is_not(None))
    units = db.session.execute(
        sa.select(Organisation.id, Organisation.kind, Organisation.region_code)
        .where(Organisation.is_demo.is_(True), Organisation.kind.in_(list(templates)), Organisation.id.not_in(done))
        .order_by(Organisation.id)
    ).all()
    demo_school = db.session.scalar(sa.select(User.org_id).where(User.username == "school", User.is_demo.is_(True)))
    first, _last = term_bounds(today)
    previous_term_day = first - timedelta(days=30)
    run_rows, plans = [], []
    for org_id, kind, region_code in units:
        if org_id == demo_school:
            day = previous_term_day
        elif rng.random() < SHARE_READY:
            day = first + timedelta(days=rng.randrange(max((today - first).days, 1)))
        else:
            continue
        moment = datetime.combine(day, time(10), tzinfo=local_zone()).astimezone(timezone.utc)
        template = templates[kind]
        run_rows.append(
            {
                "template_id": template.id,
                "org_id": org_id,
                "region_code": region_code,
                "started_at": moment - timedelta(hours=1),
                "completed_at": moment,
            }
        )
        plans.append(template.id)
    if not run_rows:
        return 0
    run_ids = db.session.scalars(
        sa.insert(ChecklistRun).returning(ChecklistRun.id, sort_by_parameter_order=True), run_rows
    ).all()
    answers = []
    for run_id, template_id in zip(run_ids, plans, strict=True):
        failing = rng.choice(items[template_id]) if rng.random() < SHARE_WITH_NO else None
        answers += [
            {
                "run_id": run_id,
                "item_id": item_id,
                "note": "",
                "answer": (Answer.NO if item_id == failing else Answer.YES).value,
            }
            for item_id in items[template_id]
        ]
    db.session.execute(sa.insert(ChecklistAnswer), answers)
    db.session.flush()
    return len(run_rows)
