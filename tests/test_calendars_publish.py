"""`drillmgr publish-calendars`: static public feeds, written atomically and only when they changed."""

import os
from pathlib import Path

from drillmgr.calendars import publish, serving
from drillmgr.regions.services import counties
from tests.calendars_support import _empty_feed_caches, drill_uid, events, touch  # noqa: F401
from tests.conftest import SHAWAN, WUSU


def test_publish_writes_public_and_one_file_per_county(tmp_path, make_drill):
    wusu = make_drill(public=True, region_code=WUSU)
    hidden = make_drill(public=False, region_code=WUSU)
    changed = publish.publish_static(tmp_path)
    expected = {"public.ics"} | {f"public-{c.code}.ics" for c in counties()}
    assert set(changed) == expected == {p.name for p in tmp_path.iterdir()}
    assert drill_uid(wusu) in events((tmp_path / "public.ics").read_bytes())
    assert drill_uid(hidden) not in events((tmp_path / "public.ics").read_bytes())
    assert drill_uid(wusu) in events((tmp_path / f"public-{WUSU}.ics").read_bytes())
    assert drill_uid(wusu) not in events((tmp_path / f"public-{SHAWAN}.ics").read_bytes())


def test_publish_rewrites_only_changed_files(tmp_path, make_drill):
    drill = make_drill(public=True, region_code=WUSU)
    publish.publish_static(tmp_path)
    stamps = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}
    serving.clear_local_caches()
    assert publish.publish_static(tmp_path) == []
    touch(drill, title="改名")
    assert sorted(publish.publish_static(tmp_path)) == ["public-654202.ics", "public.ics"]
    assert (tmp_path / "public-654201.ics").stat().st_ino == stamps["public-654201.ics"]
    assert (tmp_path / "public.ics").stat().st_ino != stamps["public.ics"]  # replaced by rename, not rewritten
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_publish_leaves_the_old_file_when_writing_fails(tmp_path, make_drill, monkeypatch):
    make_drill(public=True)
    publish.publish_static(tmp_path)
    before = (tmp_path / "public.ics").read_bytes()
    make_drill(public=True)
    serving.clear_local_caches()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    try:
        publish.publish_static(tmp_path)
    except OSError:
        pass
    assert (tmp_path / "public.ics").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_publishes_into_the_configured_folder(app, runner, make_drill):
    make_drill(public=True)
    folder = Path(app.config["CALENDAR_DIR"])
    result = runner.invoke(args=["publish-calendars"])
    assert result.exit_code == 0, result.output
    assert "public.ics" in result.output and (folder / "public.ics").is_file()
    again = runner.invoke(args=["publish-calendars"])
    assert "unchanged" in again.output
