"""Filters in region and organisation links: what a filtered feed holds (the drills the API lists for the same
criteria), the key drills and deadlines by default, signatures that cover the filter, one version per filter,
and the subscribe page's count and size of what it links."""

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from drillmgr.calendars import feeds
from drillmgr.calendars.filters import EVERYTHING, KEY_DRILLS, FeedFilter
from drillmgr.calendars.links import feed_links
from drillmgr.enums import DrillForm, DrillScope, OrgKind, Role
from tests.calendars_support import _empty_feed_caches, events, parse, reschedule, touch  # noqa: F401
from tests.conftest import SHAWAN, WUSU, at, login, token_for

LIVE_OR_TABLETOP_SINGLE_BY_SCHOOLS = FeedFilter(
    forms=frozenset({DrillForm.LIVE, DrillForm.TABLETOP}),
    scopes=frozenset({DrillScope.SINGLE}),
    kinds=frozenset({OrgKind.SCHOOL}),
)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def with_query(url: str, **changes: str | None) -> str:
    """The link with some query arguments changed (None removes one), its token kept."""
    parts = urlsplit(url)
    arguments = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            arguments.pop(name, None)
        else:
            arguments[name] = value
    return f"{parts.path}?{urlencode(arguments, safe=',')}"


def drill_ids(body: bytes) -> set[int]:
    return {int(uid.split("@")[0].removeprefix("drill-")) for uid in events(body) if uid.startswith("drill-")}


def deadline_uids(body: bytes) -> set[str]:
    return {uid for uid in events(body) if uid.startswith("report-deadline-")}


def region_link(user, selection=None) -> str:
    return path_of(feed_links(user, selections={feeds.REGION: selection} if selection else None)["region"]["url"])


def fetch(client, path: str, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code in (200, 304), (response.status_code, response.data)
    return response


@pytest.fixture
def county(make_org, make_user, make_drill):
    """乌苏市's drills of every form and scope, by schools, a hospital and the county itself, and one of 沙湾市."""
    school, other_school = make_org(name="乌苏市甲校"), make_org(name="乌苏市乙校")
    hospital = make_org(name="乌苏市人民医院", kind=OrgKind.HOSPITAL)
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    staff = make_user(org=other_school)
    drills = {}
    for n, (form, scope) in enumerate([(f, s) for f in DrillForm for s in DrillScope]):
        for organiser in (school, hospital, WUSU):
            drills[(form, scope, getattr(organiser, "kind", "region"))] = make_drill(
                organizer=organiser, form=form, scope=scope, starts_at=at(days=3 + n)
            )
    drills["evaluated"] = make_drill(organizer=hospital, evaluators=[coordinator], starts_at=at(days=20))
    drills["participated"] = make_drill(organizer=school, participants=[other_school], starts_at=at(days=21))
    drills["shawan"] = make_drill(
        organizer=SHAWAN, form=DrillForm.LIVE, scope=DrillScope.COMPREHENSIVE, starts_at=at(days=22)
    )
    drills["blind"] = make_drill(organizer=hospital, form=DrillForm.LIVE, double_blind=True, starts_at=at(days=23))
    return {
        "coordinator": coordinator,
        "staff": staff,
        "school": school,
        "other_school": other_school,
        "hospital": hospital,
        "drills": drills,
    }


def listed(client, user, **criteria) -> list[dict]:
    """The drills the API lists for `user` with the drill list's own filters."""
    response = client.get("/api/v1/drills", query_string={"per_page": 100, **criteria}, headers=token_for(client, user))
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["total"] <= 100
    return answer["items"]


def test_filtered_region_feed_holds_exactly_the_drills_the_api_lists_for_its_criteria(client, county):
    coordinator = county["coordinator"]
    schools = {county["school"].id, county["other_school"].id}
    expected = {
        d["id"]
        for form in ("live", "tabletop")
        for d in listed(client, coordinator, region=WUSU, form=form)
        if d["scope"] == "single" and d["organizer_org_id"] in schools
    }
    body = fetch(client, region_link(coordinator, LIVE_OR_TABLETOP_SINGLE_BY_SCHOOLS)).data
    assert drill_ids(body) == expected and len(expected) == 2
    everything = {d["id"] for d in listed(client, coordinator, region=WUSU)}
    assert drill_ids(fetch(client, region_link(coordinator, EVERYTHING)).data) == everything
    assert county["drills"]["shawan"].id not in everything


def test_default_region_feed_is_the_key_drills_and_the_deadlines(client, county):
    coordinator = county["coordinator"]
    all_drills = listed(client, coordinator, region=WUSU)
    key = {
        d["id"]
        for d in all_drills
        if d["scope"] == "comprehensive" or d["form"] == "live" or d["organizer_region_code"]
    }
    key.add(county["drills"]["evaluated"].id)  # the coordinator's own: they evaluate it
    default_link = region_link(coordinator)
    assert "show=" not in default_link and "form=" not in default_link  # the link given before filters existed
    body = fetch(client, default_link).data
    assert drill_ids(body) == key
    assert county["drills"]["blind"].id in key  # an insider's: the double-blind rule applies as before
    left_out = {d["id"] for d in all_drills} - key
    assert {
        county["drills"][(DrillForm.EVACUATION, DrillScope.SINGLE, OrgKind.SCHOOL)].id,
        county["drills"]["participated"].id,
    } <= left_out
    assert len(deadline_uids(body)) == 8  # two a year, four years
    assert deadline_uids(fetch(client, region_link(coordinator, EVERYTHING)).data) == deadline_uids(body)
    assert drill_ids(fetch(client, region_link(coordinator, KEY_DRILLS)).data) == key


def test_key_drills_follow_the_double_blind_rule_and_the_owners_scope(client, county, make_user):
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    key = drill_ids(fetch(client, region_link(viewer)).data)
    assert county["drills"]["blind"].id not in key
    assert county["drills"][(DrillForm.LIVE, DrillScope.SINGLE, OrgKind.SCHOOL)].id in key
    assert county["drills"]["shawan"].id not in key
    assert not deadline_uids(fetch(client, region_link(viewer)).data)  # viewers file no reports


def test_org_feed_is_everything_by_default_and_may_ask_for_key_drills(client, county):
    staff = county["staff"]
    org_link = path_of(feed_links(staff)["org"]["url"])
    everything = {d["id"] for d in listed(client, staff, org=county["other_school"].id)}
    assert drill_ids(fetch(client, org_link).data) == everything == {county["drills"]["participated"].id}
    key_link = path_of(feed_links(staff, selections={feeds.ORG: KEY_DRILLS})["org"]["url"])
    assert "show=key" in key_link
    assert drill_ids(fetch(client, key_link).data) == everything  # the staff's own unit: all are their own


@pytest.mark.parametrize(
    "change",
    [
        {"form": "tabletop"},  # another filter, the same signature
        {"show": "key"},  # the key drills asked of a link of every drill
        {"form": None, "scope": None, "kind": None},  # the filter taken away: the default's signature differs
        {"form": "live,carnival"},  # a value no link carries
        {"kind": "school,hospital"},
    ],
)
def test_a_changed_filter_is_refused_like_a_bad_signature(client, county, change):
    link = region_link(county["coordinator"], LIVE_OR_TABLETOP_SINGLE_BY_SCHOOLS)
    assert client.get(link).status_code == 200
    refused = client.get(with_query(link, **change))
    bad_signature = client.get(link.replace("token=", "token=1"))
    assert refused.status_code == bad_signature.status_code == 403
    assert refused.mimetype == "text/plain" and refused.data == bad_signature.data


def test_a_default_link_given_a_filter_is_refused_and_a_repeated_argument_too(client, county):
    link = region_link(county["coordinator"])
    assert client.get(with_query(link, show="all")).status_code == 403
    assert client.get(with_query(link, show="key")).status_code == 200  # the default, said aloud
    assert client.get(link + "&form=live&form=tabletop").status_code == 403
    filtered = region_link(county["coordinator"], FeedFilter(forms=frozenset({DrillForm.LIVE})))
    assert client.get(filtered + "&form=tabletop").status_code == 403


def test_each_filter_has_its_own_etag_and_a_change_it_excludes_never_makes_it_stale(client, county):
    coordinator = county["coordinator"]
    live = region_link(coordinator, FeedFilter(forms=frozenset({DrillForm.LIVE})))
    evacuation = region_link(coordinator, FeedFilter(forms=frozenset({DrillForm.EVACUATION})))
    links = [region_link(coordinator), region_link(coordinator, EVERYTHING), live, evacuation]
    etags = [fetch(client, link).headers["ETag"] for link in links]
    assert len(set(etags)) == len(etags)
    assert client.get(live, headers={"If-None-Match": etags[3]}).status_code == 200
    assert client.get(live, headers={"If-None-Match": etags[2]}).status_code == 304
    # An evacuation drill changed: the live drills' feed is unchanged; the evacuation feed moves.
    reschedule(county["drills"][(DrillForm.EVACUATION, DrillScope.SINGLE, OrgKind.SCHOOL)], days=1)
    assert client.get(live, headers={"If-None-Match": etags[2]}).status_code == 304
    assert client.get(evacuation, headers={"If-None-Match": etags[3]}).status_code == 200
    # A drill becoming live enters the live feed at the next poll.
    moved = county["drills"][(DrillForm.TABLETOP, DrillScope.SINGLE, OrgKind.HOSPITAL)]
    touch(moved, form=DrillForm.LIVE)
    answer = client.get(live, headers={"If-None-Match": etags[2]})
    assert answer.status_code == 200 and moved.id in drill_ids(answer.data)
    assert moved.id not in drill_ids(fetch(client, evacuation).data)


def test_feed_links_api_keeps_its_shape_and_gives_the_defaults(client, county):
    coordinator = county["coordinator"]
    answer = client.get("/api/v1/me/feeds", headers=token_for(client, coordinator)).get_json()
    assert set(answer) == {"public", "me", "region"}
    assert all(set(link) == {"url", "webcal"} for link in answer.values())
    assert path_of(answer["region"]["url"]) == region_link(coordinator)
    query = dict(parse_qsl(urlsplit(answer["region"]["url"]).query))
    assert set(query) == {"token"}


def preview(client, **arguments) -> dict:
    response = client.get("/calendars/subscribe/preview", query_string=arguments)
    assert response.status_code == 200, response.data
    return response.get_json()


@pytest.mark.parametrize(
    "arguments",
    [
        {"feed": "region"},
        {"feed": "region", "show": "all"},
        {"feed": "region", "show": "all", "form": ["live", "tabletop"], "scope": "single", "kind": "school"},
        {"feed": "region", "show": "key", "form": ["evacuation"]},
    ],
)
def test_subscribe_preview_counts_the_events_and_bytes_of_the_feed_it_links(client, county, arguments):
    login(client, county["coordinator"])
    shown = preview(client, **arguments)
    feed = fetch(client, path_of(shown["url"]))
    assert shown["webcal"] == "webcal://" + shown["url"].split("://", 1)[1]
    calendar = parse(feed.data)
    uids = [str(event["UID"]) for event in calendar.walk("VEVENT")]
    assert shown["drills"] == len([uid for uid in uids if uid.startswith("drill-")]) == len(drill_ids(feed.data))
    assert shown["drills"] + shown["deadlines"] == len(uids)
    assert shown["bytes"] == len(feed.data)
    assert str(shown["drills"]) in shown["summary"] and shown["size"] in shown["summary"]


def test_subscribe_page_without_script_shows_the_chosen_link_and_its_count(client, county):
    login(client, county["coordinator"])
    page = client.get(
        "/calendars/subscribe",
        query_string={
            "feed": "region",
            "show": "all",
            "form": ["live", "tabletop"],
            "scope": "single",
            "kind": "school",
        },
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    shown = preview(client, feed="region", show="all", form=["live", "tabletop"], scope="single", kind="school")
    assert shown["url"].replace("&", "&amp;") in text and shown["summary"] in text
    assert 'value="all" id="region-show-all" checked' in text
    assert 'value="evacuation" id="region-form-evacuation">' in text  # left unticked
    assert 'src="/static/calendar-filters.js' in text and "<script>" not in text


def test_subscribe_preview_refuses_a_feed_the_user_has_not_and_a_bad_value(client, county):
    login(client, county["staff"])
    assert client.get("/calendars/subscribe/preview", query_string={"feed": "region"}).status_code == 404
    assert client.get("/calendars/subscribe/preview", query_string={"feed": "me"}).status_code == 400
    assert (
        client.get("/calendars/subscribe/preview", query_string={"feed": "org", "form": "carnival"}).status_code == 400
    )
    assert preview(client, feed="org")["drills"] == 1
