"""Feeds never show more than their owner may see; links are signed, revocable and checked again."""

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from werkzeug.http import http_date

from drillmgr.accounts.services import rotate_feed_secret
from drillmgr.calendars import feeds, ical, links, serving
from drillmgr.calendars.filters import EVERYTHING
from drillmgr.calendars.links import feed_links
from drillmgr.enums import Role
from drillmgr.extensions import db
from tests.calendars_support import _empty_feed_caches, drill_uid, events  # noqa: F401
from tests.conftest import SHAWAN, WUSU, at, login, token_for


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def every_link(user):
    """The user's links, the region link showing the whole subtree (not only the key drills)."""
    return feed_links(user, selections={feeds.REGION: EVERYTHING})


def feed_uids(client, url: str) -> set[str]:
    response = client.get(path_of(url))
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return set(events(response.data))


@pytest.fixture
def county(make_org, make_user, make_drill):
    """乌苏市 with two schools, a double-blind drill of school A (school B takes part, an outsider evaluates)."""
    school_a, school_b = make_org(name="乌苏市甲校"), make_org(name="乌苏市乙校")
    shawan_school = make_org(name="沙湾市丙校", region_code=SHAWAN)
    users = {
        "admin": make_user(role=Role.ADMIN),
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "viewer": make_user(role=Role.VIEWER, region_code=WUSU),
        "organiser": make_user(org=school_a),
        "participant": make_user(org=school_b),
        "shawan_coordinator": make_user(role=Role.COORDINATOR, region_code=SHAWAN),
        "shawan_staff": make_user(org=shawan_school),
    }
    users["evaluator"] = make_user(org=shawan_school)
    blind = make_drill(
        organizer=school_a,
        participants=[school_b],
        evaluators=[users["evaluator"]],
        double_blind=True,
        starts_at=at(days=3),
        public=True,
    )
    open_drill = make_drill(organizer=school_a, participants=[school_b], starts_at=at(days=4))
    shawan_drill = make_drill(organizer=shawan_school, starts_at=at(days=5), public=True)
    return {"users": users, "blind": blind, "open": open_drill, "shawan": shawan_drill, "school_a": school_a}


# Who sees the double-blind drill before it starts, in every feed they have.
INSIDERS = {"admin", "coordinator", "organiser", "evaluator"}


@pytest.mark.parametrize(
    "role",
    ["admin", "coordinator", "viewer", "organiser", "participant", "evaluator", "shawan_coordinator", "shawan_staff"],
)
def test_double_blind_drill_hidden_before_start_except_for_insiders(client, county, role):
    user = county["users"][role]
    links = every_link(user)
    blind = drill_uid(county["blind"])
    seen = set().union(*(feed_uids(client, link["url"]) for link in links.values()))
    assert (blind in seen) == (role in INSIDERS)
    assert blind not in feed_uids(client, links["public"]["url"])


@pytest.mark.parametrize("role", ["coordinator", "viewer", "organiser", "participant"])
def test_double_blind_drill_shown_once_started(client, county, role):
    county["blind"].starts_at = at(hours=-1)
    county["blind"].ends_at = at(hours=1)
    from drillmgr.extensions import db

    db.session.commit()
    links = every_link(county["users"][role])
    seen = set().union(*(feed_uids(client, link["url"]) for link in links.values()))
    assert drill_uid(county["blind"]) in seen
    assert drill_uid(county["blind"]) in feed_uids(client, links["public"]["url"])


def test_other_county_drills_never_in_a_county_feed(client, county):
    shawan = drill_uid(county["shawan"])
    for role in ("coordinator", "viewer", "organiser", "participant"):
        links = every_link(county["users"][role])
        for kind in set(links) - {"public"}:
            assert shawan not in feed_uids(client, links[kind]["url"])
    assert shawan in feed_uids(client, feed_links(county["users"]["shawan_staff"])["me"]["url"])


def test_me_feed_is_what_the_user_takes_part_in(client, county):
    participant = feed_uids(client, feed_links(county["users"]["participant"])["me"]["url"])
    assert drill_uid(county["open"]) in participant and drill_uid(county["shawan"]) not in participant
    evaluator = feed_uids(client, feed_links(county["users"]["evaluator"])["me"]["url"])
    assert drill_uid(county["blind"]) in evaluator and drill_uid(county["open"]) not in evaluator
    coordinator = feed_uids(client, feed_links(county["users"]["coordinator"])["me"]["url"])
    assert {drill_uid(county["open"]), drill_uid(county["blind"])} <= coordinator


def test_feed_links_offered_per_role(county):
    users = county["users"]
    assert set(feed_links(users["organiser"])) == {"public", "me", "org"}
    assert set(feed_links(users["coordinator"])) == {"public", "me", "region"}
    assert set(feed_links(users["viewer"])) == {"public", "me", "region"}
    admin_region = feed_links(users["admin"])["region"]["url"]
    assert admin_region.startswith("http://localhost/calendars/region/654200.ics?token=")
    link = feed_links(users["organiser"])["me"]
    assert link["webcal"] == "webcal://" + link["url"].split("://", 1)[1]


def test_tampered_links_are_refused_in_plain_text(client, county):
    url = path_of(feed_links(county["users"]["organiser"])["org"]["url"])
    token = url.split("token=")[1]
    user_id, signature = token.split(".")
    other = county["users"]["participant"]
    tampered = [
        url.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")),
        url.replace(token, f"{other.id}.{signature}"),  # someone else's id
        url.replace(f"/org/{county['school_a'].id}.ics", f"/org/{other.org_id}.ics"),  # another target
        url.replace("/calendars/org/", "/calendars/region/").replace(f"{county['school_a'].id}.ics", f"{WUSU}.ics"),
        url.split("?")[0],
        url.split("?")[0] + "?token=garbage",
    ]
    for bad in tampered:
        response = client.get(bad)
        assert response.status_code in (403, 404), bad
        assert response.mimetype == "text/plain"
        assert b"VCALENDAR" not in response.data


def test_rotated_secret_kills_every_old_link(client, county):
    user = county["users"]["coordinator"]
    old = feed_links(user)
    rotate_feed_secret(user)
    db.session.commit()  # as the request that rotated it would
    for kind in ("me", "region"):
        assert client.get(path_of(old[kind]["url"])).status_code == 403
    new = feed_links(user)
    assert client.get(path_of(new["region"]["url"])).status_code == 200


def test_owner_who_lost_access_gets_nothing(client, county):
    user = county["users"]["organiser"]
    url = path_of(feed_links(user)["org"]["url"])
    user.org_id = county["users"]["participant"].org_id
    from drillmgr.extensions import db

    db.session.commit()
    response = client.get(url)
    assert response.status_code == 403 and b"VCALENDAR" not in response.data
    user.active = False
    db.session.commit()
    assert client.get(path_of(feed_links(user)["me"]["url"])).status_code == 403


def test_region_feed_of_a_region_outside_scope_is_refused(client, county):
    user = county["users"]["coordinator"]
    token = links.feed_token(user, feeds.REGION, SHAWAN)
    response = client.get(f"/calendars/region/{SHAWAN}.ics?token={token}")
    assert response.status_code == 403 and b"VCALENDAR" not in response.data
    staff = county["users"]["organiser"]
    token = links.feed_token(staff, feeds.REGION, WUSU)
    assert client.get(f"/calendars/region/{WUSU}.ics?token={token}").status_code == 403


# --- HTTP: validators and 304 ---------------------------------------------------------------------


def test_feed_headers_etag_and_last_modified(client, make_drill):
    drill = make_drill(public=True)
    response = client.get("/calendars/public.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    etag, weak = response.get_etag()
    assert etag and not weak
    import hashlib

    assert etag == hashlib.sha256(response.data).hexdigest()
    assert response.last_modified >= drill.updated_at.replace(microsecond=0)
    again = client.get("/calendars/public.ics")
    assert again.data == response.data and again.get_etag() == response.get_etag()


def test_304_on_if_none_match_without_rendering(client, make_drill, monkeypatch):
    drill = make_drill(public=True)
    first = client.get("/calendars/public.ics")
    etag = first.headers["ETag"]

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered although nothing changed")

    monkeypatch.setattr(ical, "drill_event", no_rendering)
    monkeypatch.setattr(ical, "calendar_head", no_rendering)
    response = client.get("/calendars/public.ics", headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == etag
    # A proxy that compresses turns the tag weak; If-None-Match compares weakly (RFC 9110).
    assert client.get("/calendars/public.ics", headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    monkeypatch.undo()
    from tests.calendars_support import touch

    touch(drill, title="改过的标题")
    changed = client.get("/calendars/public.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_304_on_if_modified_since_without_rendering(client, make_drill, monkeypatch):
    from drillmgr.extensions import db

    drill = make_drill(public=True)
    first = client.get("/calendars/public.ics")

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered although nothing changed")

    serving.clear_local_caches()  # even a cold cache answers from the validator alone
    monkeypatch.setattr(ical, "calendar_head", no_rendering)
    response = client.get("/calendars/public.ics", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert response.status_code == 304
    monkeypatch.undo()
    from tests.calendars_support import touch

    touch(drill, title="改过的标题")
    drill.updated_at = at(hours=1)  # HTTP dates have whole seconds
    db.session.commit()
    response = client.get("/calendars/public.ics", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert response.status_code == 200


def test_double_blind_start_changes_last_modified(client, make_drill, make_org):
    """A drill that appears because it started changes the validators although no row changed."""
    make_drill(organizer=make_org(), double_blind=True, public=True, starts_at=at(hours=2))
    feed = feeds.public_feed()
    before = serving.answer(feed)
    later = serving.answer(feed, now=at(hours=3), modified_since=before.last_modified)
    assert later.status == 200 and later.etag != before.etag
    assert later.last_modified > before.last_modified


def test_last_modified_is_never_later_than_now_nor_a_secret_drills_start(client, make_user, make_org, make_drill):
    """On 30 November the organiser's feed said 22 December, the start of its coming double-blind drill."""
    org = make_org()
    organiser = make_user(org=org)
    seen = make_drill(organizer=org, public=True)
    make_drill(organizer=org, public=True, double_blind=True, starts_at=at(days=22))
    before = datetime.now(timezone.utc)
    for url in (path_of(feed_links(organiser)["me"]["url"]), "/calendars/public.ics"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.last_modified <= before.replace(microsecond=0) + timedelta(seconds=1)
    # The public does not see the double-blind drill: only the drill it sees dates its feed.
    assert response.last_modified == seen.updated_at.replace(microsecond=0)


def test_a_drill_leaving_the_feed_is_a_change_to_if_modified_since(client, make_drill):
    kept, leaving = make_drill(public=True), make_drill(public=True)
    first = client.get("/calendars/public.ics")
    unchanged = client.get("/calendars/public.ics", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert unchanged.status_code == 304
    from tests.calendars_support import touch

    touch(leaving, public=False)  # no drill the feed shows changed; one left it
    changed = client.get("/calendars/public.ics", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert changed.status_code == 200 and drill_uid(leaving) not in events(changed.data)
    assert changed.last_modified >= first.last_modified
    again = client.get("/calendars/public.ics", headers={"If-Modified-Since": changed.headers["Last-Modified"]})
    assert again.status_code in (200, 304)  # 200 only within the second of the change (HTTP dates have seconds)
    assert drill_uid(kept) in events(changed.data)


def test_a_change_within_the_same_second_still_answers_200(make_drill):
    from tests.calendars_support import touch

    drill = make_drill(public=True)
    feed = feeds.public_feed()
    first = serving.answer(feed)
    moment = first.last_modified + timedelta(milliseconds=500)
    touch(drill, title="同一秒内改过")
    serving.clear_local_caches()
    changed = serving.answer(feed, modified_since=first.last_modified, now=moment)
    assert changed.status == 200 and changed.last_modified == first.last_modified
    later = first.last_modified + timedelta(seconds=5)
    assert serving.answer(feed, modified_since=first.last_modified, now=later).status == 200
    assert serving.answer(feed, modified_since=first.last_modified + timedelta(seconds=1), now=later).status == 304


def test_every_worker_gives_the_same_last_modified_and_a_change_back_is_a_change(make_drill):
    """Another worker is a process with empty memory caches; the feed's dates are kept in the database."""
    from tests.calendars_support import touch

    drill = make_drill(public=True, title="原标题")
    feed = feeds.public_feed()
    first = serving.answer(feed, now=at(hours=1 / 60))
    serving.clear_local_caches()
    assert serving.answer(feed, now=at(hours=2 / 60)).last_modified == first.last_modified
    touch(drill, public=False)
    hidden = serving.answer(feed, now=at(hours=3 / 60))  # one worker serves the feed without the drill
    assert hidden.last_modified > first.last_modified
    touch(drill, public=True)
    back = serving.answer(feed, modified_since=hidden.last_modified, now=at(hours=4 / 60))
    assert back.status == 200 and back.last_modified > hidden.last_modified


def test_if_modified_since_later_than_now_is_ignored(client, make_drill):
    """No answer ever gave such a date (older versions did: a secret drill's start); RFC 2616 calls it invalid."""
    make_drill(public=True)
    response = client.get("/calendars/public.ics", headers={"If-Modified-Since": http_date(at(days=22))})
    assert response.status_code == 200 and response.data.startswith(b"BEGIN:VCALENDAR")


def test_private_feed_304_and_cache_headers(client, make_user, make_org, make_drill):
    org = make_org()
    user = make_user(org=org)
    make_drill(organizer=org)
    url = path_of(feed_links(user)["me"]["url"])
    first = client.get(url)
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304


# --- the subscribe page and the API ---------------------------------------------------------------


def test_subscribe_page_shows_links_and_rotates_with_post(client, make_user, make_org):
    user = make_user(role=Role.COORDINATOR, region_code=WUSU)
    login(client, user)
    page = client.get("/calendars/subscribe").get_data(as_text=True)
    links = feed_links(user)
    for kind in ("me", "region", "public"):
        assert links[kind]["webcal"].replace("&", "&amp;") in page or links[kind]["webcal"] in page
        assert links[kind]["url"] in page
    assert client.get("/calendars/subscribe/rotate").status_code == 405
    response = client.post("/calendars/subscribe/rotate")
    assert response.status_code == 302
    assert client.get(path_of(links["me"]["url"])).status_code == 403
    assert feed_links(user)["me"]["url"] in client.get("/calendars/subscribe").get_data(as_text=True)


def test_subscribe_page_sets_alarms(client, make_user, make_org):
    user = make_user(org=make_org())
    login(client, user)
    client.post("/calendars/subscribe/alarms", data={"alarms": "y"})
    assert user.feed_alarms is True
    client.post("/calendars/subscribe/alarms", data={})
    assert user.feed_alarms is False


def test_subscribe_page_needs_login(client):
    assert client.get("/calendars/subscribe").status_code == 302


def test_rotate_needs_csrf_token(app, make_user, make_org):
    user = make_user(org=make_org())
    secret = user.feed_secret
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        login_page = client.get("/login")
        assert login_page.status_code == 200
        client.post("/calendars/subscribe/rotate")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert user.feed_secret == secret


def test_api_feeds_and_rotation(client, make_user, make_org):
    org = make_org()
    user = make_user(org=org)
    headers = token_for(client, user)
    answer = client.get("/api/v1/me/feeds", headers=headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body) == {"public", "me", "org"}
    assert body["org"]["url"].endswith(feed_links(user)["org"]["url"].split("/calendars/")[1])
    assert client.get(path_of(body["me"]["url"])).status_code == 200
    rotated = client.post("/api/v1/me/feeds/rotate", headers=headers)
    assert rotated.status_code == 200 and rotated.get_json()["me"] != body["me"]
    assert client.get(path_of(body["me"]["url"])).status_code == 403
    assert client.get(path_of(rotated.get_json()["me"]["url"])).status_code == 200
    assert client.get("/api/v1/me/feeds").status_code == 401
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/me/feeds" in spec["paths"] and "/me/feeds/rotate" in spec["paths"]
    assert "FeedLinks" in spec["components"]["schemas"]


def test_org_feed_for_coordinators_only_inside_their_county(client, county, make_org):
    coordinator = county["users"]["coordinator"]
    wusu_org = str(county["school_a"].id)
    token = links.feed_token(coordinator, feeds.ORG, wusu_org)
    assert drill_uid(county["blind"]) in feed_uids(client, f"/calendars/org/{wusu_org}.ics?token={token}")
    shawan_org = str(county["shawan"].organizer_org_id)
    token = links.feed_token(coordinator, feeds.ORG, shawan_org)
    response = client.get(f"/calendars/org/{shawan_org}.ics?token={token}")
    assert response.status_code == 403 and b"VCALENDAR" not in response.data
    token = links.feed_token(coordinator, feeds.ORG, "999999")
    assert client.get(f"/calendars/org/999999.ics?token={token}").status_code == 404


def test_head_answers_headers_only(client, make_drill):
    make_drill(public=True)
    response = client.head("/calendars/public.ics")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["ETag"] and response.headers["Content-Type"] == "text/calendar; charset=utf-8"
