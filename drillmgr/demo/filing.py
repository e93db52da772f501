"""Demo of the whole path after a drill: reviews in every filing state (a reopened filing among them),
findings whose corrective actions are in every state. Made through the services, as the demo school's
staff and Wusu's coordinator would, so that histories, notifications and audit entries are real."""

from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from drillmgr.accounts.models import User
from drillmgr.drills import lifecycle
from drillmgr.drills.models import Drill
from drillmgr.extensions import db
from drillmgr.findings import actions, reviews
from drillmgr.localtime import local_today

REVIEW = {
    "execution": "（演示）警报响起后各班按预定路线疏散至操场，班主任清点人数后逐级上报。",
    "plan_soundness": "方案总体可行，东侧楼梯分流安排需细化。",
    "command_coordination": "总指挥部设于操场主席台，指令传达基本顺畅。",
    "staff_handling": "各楼层引导员到位及时。",
    "equipment_fitness": "二楼广播音量不足。",
    "recommendations": "增设二楼应急广播；每学期组织一次无预告演练。",
    "went_well": "学生秩序良好，无人员滞留。",
}
# (title, days ago, what happens to its review)
PATH = [
    ("（演示）避险疏散演练（总结草稿）", 12, "draft"),
    ("（演示）避险疏散演练（已报送待备案）", 26, "submitted"),
    ("（演示）避险疏散演练（退回修改）", 40, "returned"),
    ("（演示）避险疏散演练（已备案）", 70, "accepted"),
    ("（演示）避险疏散演练（重新打开备案）", 100, "reopened"),
    ("（演示）避险疏散演练（重新打开后再次备案）", 130, "refiled"),
]
# (summary, severity, category, corrective action, its steps)
FINDINGS = [
    ("（演示）二楼广播音量不足", "major", "equipment", "更换二楼应急广播扬声器", ()),
    ("（演示）清点人数方法未明确", "minor", "plan", "修订方案，明确班主任清点并逐级上报", ("in_progress",)),
    ("（演示）东侧楼梯疏散拥堵", "major", "facility", "东侧楼梯增设分流引导员", ("in_progress", "done")),
    (
        "（演示）应急照明部分失效",
        "critical",
        "equipment",
        "更换失效的应急照明灯具",
        ("in_progress", "done", "verified"),
    ),
    (
        "（演示）新教师不熟悉疏散路线",
        "minor",
        "training",
        "组织新教师疏散路线培训",
        ("in_progress", "done", "send_back"),
    ),
]


def _completed(staff: User, title: str, days_ago: int, now: datetime) -> Drill:
    org = staff.org
    assert org is not None  # the demo's unit staff
    start = (now - timedelta(days=days_ago)).replace(hour=2, minute=0, second=0, microsecond=0)
    headcount = org.headcount or 500
    drill = lifecycle.create_drill(
        staff,
        {
            "title": title,
            "form": "evacuation",
            "organizer_org_id": org.id,
            "location": "教学楼及操场",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
            "participation": {
                "counts": {"students": headcount * 85 // 100, "staff": headcount // 10},
                "evacuation_seconds": 95 + days_ago % 60,
            },
        },
        now=now,
    )
    drill.is_demo = True
    return drill


def _findings(staff: User, coordinator: User, drill: Drill, today: date) -> None:
    for summary, severity, category, description, steps in FINDINGS:
        finding = actions.add_drill_finding(
            staff,
            drill,
            {
                "summary": summary,
                "severity": severity,
                "category": category,
                "corrective_action": {
                    "description": description,
                    "owner": staff.id,
                    "due_on": (today + timedelta(days=30)).isoformat(),
                },
            },
        )
        for step in steps:
            actor = coordinator if step in ("verified", "send_back") else staff
            status = "in_progress" if step == "send_back" else step
            reason = {"reason": "（演示）请补充培训签到表"} if step == "send_back" else {}
            actions.update_finding(actor, finding, {"corrective_action": {"status": status, **reason}})
    # One action overdue, as they are in real life.
    late = actions.drill_findings(drill)[0].corrective_action
    late.due_on = today - timedelta(days=5)


def _actors() -> tuple[User | None, User | None]:
    staff = db.session.scalar(sa.select(User).where(User.username == "school", User.is_demo.is_(True)))
    coordinator = db.session.scalar(sa.select(User).where(User.username == "wusu", User.is_demo.is_(True)))
    return (staff, coordinator) if staff is not None and staff.org is not None else (None, None)


def filing_demo_possible() -> bool:
    """The demo school's staff and Wusu's coordinator exist (a demo of very few units may have no school)."""
    return None not in _actors()


def seed_filing_demo(now: datetime | None = None) -> int:
    """Adds the demo school's reviewed drills; returns how many. Nothing without the demo school and coordinator."""
    now = now or datetime.now(timezone.utc)
    staff, coordinator = _actors()
    if staff is None or coordinator is None:
        return 0
    today = local_today()
    for title, days_ago, state in PATH:
        drill = _completed(staff, title, days_ago, now)
        reviews.save_review(staff, drill, REVIEW)
        if state in ("accepted", "reopened", "refiled"):
            _findings(staff, coordinator, drill, today)
        if state == "draft":
            continue
        reviews.submit_review(staff, drill)
        if state == "returned":
            reviews.return_review(coordinator, drill, {"reason": "（演示）请补充各班疏散用时和清点人数情况"})
        elif state != "submitted":
            reviews.accept_review(coordinator, drill)
        if state in ("reopened", "refiled"):
            reviews.reopen_review(coordinator, drill, {"reason": "（演示）疏散用时录入有误，需更正"})
        if state == "refiled":
            assert drill.participation is not None  # the drill was completed with its participation
            lifecycle.complete_drill(
                staff,
                drill,
                {
                    "participation": {
                        "counts": {"students": drill.participation.students, "staff": drill.participation.staff},
                        "evacuation_seconds": 88,
                    }
                },
            )
            reviews.save_review(staff, drill, {"execution": REVIEW["execution"] + "更正：疏散用时1分28秒。"})
            reviews.submit_review(staff, drill)
            reviews.accept_review(coordinator, drill)
    return len(PATH)
