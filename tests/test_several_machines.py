"""Two app servers (two gunicorn processes on different ports, as two machines would be) on one database, with
the shared feed cache in Redis when one answers (else in the database): a change made through one machine is in
the other's feeds and compliance at once, and no cache serves a secret drill to someone who may not know it."""

import re
import subprocess
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from drillmgr.scheduler.models import JobRun, SchedulerLease
from tests.live_support import ADMIN, BIN, ONLY_A_FAST_JOB, PASSWORD, Client, live_environment, start_server, stop

pytestmark = pytest.mark.slow

WUSU = "654202"
BEIJING = timezone(timedelta(hours=8))


def _redis_url() -> str | None:
    """A database of the local Redis that no other test uses, emptied; None when no Redis answers."""
    try:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/13", socket_connect_timeout=1)
        client.flushdb()
        return "redis://127.0.0.1:6379/13"
    except Exception:  # noqa: BLE001 — no Redis here: the machines share the database's cache table
        return None


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    """Two machines, each a server and a scheduler, on one database (and one Redis, when there is one)."""
    folder = tmp_path_factory.mktemp("machines")
    env = live_environment(folder)
    redis_url = _redis_url()
    if redis_url:
        env["DRILLMGR_CACHE_REDIS_URL"] = redis_url
    processes = []
    try:
        bases = []
        for _machine in range(2):
            server, base = start_server(env, workers=1)
            processes.append(server)
            bases.append(base)
        scheduler_env = {**env, "DRILLMGR_SCHEDULER_LEASE_SECONDS": "2", "DRILLMGR_SCHEDULER_SCHEDULE": ONLY_A_FAST_JOB}
        schedulers = [
            subprocess.Popen(
                [str(BIN / "drillmgr"), "scheduler"],
                env=scheduler_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        processes += schedulers
        one, other = (Client(base).api_token(ADMIN, PASSWORD) for base in bases)
        yield SimpleNamespace(
            one=one, other=other, schedulers=schedulers, database_url=env["DRILLMGR_SQLALCHEMY_DATABASE_URI"]
        )
    finally:
        for process in processes:
            stop(process)


def _created(answer) -> dict:
    assert answer.status == 201, answer.text
    return answer.json


def _unit_and_people(admin: Client, name: str) -> tuple[int, str, str]:
    """A school in Wusu, its staff member and Wusu's coordinator (usernames; the password is PASSWORD)."""
    org = _created(
        admin.call("POST", "/api/v1/orgs", {"name": name, "kind": "school", "region_code": WUSU, "headcount": 400})
    )
    staff, coordinator = f"staff-{org['id']}", f"coord-{org['id']}"
    _created(
        admin.call(
            "POST", "/api/v1/users", {"username": staff, "password": PASSWORD, "role": "org_staff", "org_id": org["id"]}
        )
    )
    _created(
        admin.call(
            "POST",
            "/api/v1/users",
            {"username": coordinator, "password": PASSWORD, "role": "coordinator", "region_code": WUSU},
        )
    )
    return org["id"], staff, coordinator


def _feed(client: Client, link: str) -> str:
    """The feed behind a signed link, fetched from `client`'s machine (the link names the other's address)."""
    parts = urllib.parse.urlsplit(link)
    answer = Client(client.base).call("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
    assert answer.status == 200, answer.text
    return answer.text


def _dtstart(feed: str, drill_id: int) -> str:
    event = re.search(
        rf"BEGIN:VEVENT(?:(?!END:VEVENT).)*?UID:drill-{drill_id}@(?:(?!END:VEVENT).)*END:VEVENT", feed, re.S
    )
    assert event, f"drill {drill_id} is not in the feed"
    return re.search(r"DTSTART[^:]*:(\S+)", event.group(0)).group(1)


def _drill(client: Client, org_id: int, start: datetime, **fields) -> dict:
    """A live drill of the unit: a key drill, in its region's feed by default."""
    return _created(
        client.call(
            "POST",
            "/api/v1/drills",
            {
                "title": fields.pop("title", "综合实战演练"),
                "form": "live",
                "organizer_org_id": org_id,
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
                **fields,
            },
        )
    )


def test_a_drill_changed_through_one_machine_is_in_the_other_s_feeds_at_once(machines):
    one, other = machines.one, machines.other
    org_id, staff, coordinator = _unit_and_people(one, "双机测试学校")
    links = Client(other.base).api_token(coordinator, PASSWORD).call("GET", "/api/v1/me/feeds").json
    region_link = links["region"]["url"]
    assert "drill-" not in _feed(one, region_link) + _feed(other, region_link)  # both machines have kept it

    start = datetime.now(BEIJING).replace(microsecond=0, second=0, minute=0) + timedelta(days=10)
    drill = _drill(one, org_id, start)
    first_start = _dtstart(_feed(other, region_link), drill["id"])
    assert first_start == _dtstart(_feed(one, region_link), drill["id"])

    moved = start + timedelta(days=2)
    answer = other.call(
        "PATCH",
        f"/api/v1/drills/{drill['id']}",
        {
            "version": drill["version"],
            "starts_at": moved.isoformat(),
            "ends_at": (moved + timedelta(hours=1)).isoformat(),
        },
    )
    assert answer.status == 200, answer.text
    assert _dtstart(_feed(one, region_link), drill["id"]) == _dtstart(_feed(other, region_link), drill["id"])
    assert _dtstart(_feed(one, region_link), drill["id"]) != first_start

    answer = one.call(
        "POST", f"/api/v1/drills/{drill['id']}/cancel", {"reason": "改期", "version": answer.json["version"]}
    )
    assert answer.status == 200, answer.text
    assert "STATUS:CANCELLED" in _feed(other, region_link)


def test_a_secret_drill_cached_for_an_insider_is_never_served_to_a_participant(machines):
    one, other = machines.one, machines.other
    org_id, staff, coordinator = _unit_and_people(one, "双盲测试学校")
    staff_links = Client(other.base).api_token(staff, PASSWORD).call("GET", "/api/v1/me/feeds").json
    coordinator_links = Client(one.base).api_token(coordinator, PASSWORD).call("GET", "/api/v1/me/feeds").json
    start = datetime.now(BEIJING).replace(microsecond=0, second=0, minute=0) + timedelta(days=20)
    secret = _created(
        Client(one.base)
        .api_token(coordinator, PASSWORD)
        .call(
            "POST",
            "/api/v1/drills",
            {
                "title": "双盲桌面推演",
                "form": "tabletop",
                "double_blind": True,
                "organizer_region_code": WUSU,
                "participant_org_ids": [org_id],
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
            },
        )
    )
    for machine in (one, other):  # the insider's feeds are rendered (and kept) first, on both machines
        assert f"drill-{secret['id']}@" in _feed(machine, coordinator_links["region"]["url"])
    for machine in (one, other):
        assert f"drill-{secret['id']}@" not in _feed(machine, staff_links["org"]["url"])
        assert f"drill-{secret['id']}@" not in _feed(machine, staff_links["me"]["url"])
        listed = Client(machine.base).api_token(staff, PASSWORD).call("GET", "/api/v1/drills?per_page=100").json
        assert secret["id"] not in [item["id"] for item in listed["items"]]


def test_a_drill_completed_through_one_machine_counts_in_the_other_s_compliance_at_once(machines):
    one, other = machines.one, machines.other
    org_id, _staff, coordinator = _unit_and_people(one, "合规测试学校")
    reader = Client(other.base).api_token(coordinator, PASSWORD)
    year = date.today().year

    def achieved() -> int:
        answer = reader.call("GET", f"/api/v1/compliance?year={year}&region={WUSU}")
        assert answer.status == 200, answer.text
        return sum(
            result["achieved"]
            for rule in answer.json["rules"]
            for result in rule["results"]
            if result["subject"] == {"type": "org", "id": org_id, "name": "合规测试学校"}
        )

    before = achieved()  # evaluated and kept on the other machine
    held = datetime.now(BEIJING).replace(microsecond=0) - timedelta(days=1)
    _drill(one, org_id, held, form="evacuation", participation={"counts": {"students": 300, "staff": 30}})
    assert achieved() > before


def test_of_the_two_machines_schedulers_one_runs_the_jobs_and_each_moment_once(machines):
    """Both machines run a scheduler beside their server; the full takeover story is in
    test_scheduler_processes."""
    engine = sa.create_engine(machines.database_url, poolclass=NullPool)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                runs = connection.execute(
                    sa.select(JobRun.scheduled_for, JobRun.holder).where(JobRun.job == "drill_reminders")
                ).all()
                holders = connection.scalars(sa.select(SchedulerLease.holder)).all()
            if len(runs) >= 3:
                break
            time.sleep(0.5)
        assert len(runs) >= 3, [scheduler.poll() for scheduler in machines.schedulers]
        assert len(holders) == 1 and {holder for _moment, holder in runs} == set(holders)
        assert len({moment for moment, _holder in runs}) == len(runs)
    finally:
        engine.dispose()
