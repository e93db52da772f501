"""Every user-facing message in the code and templates has a Simplified Chinese translation."""

from pathlib import Path


from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "drillmgr"
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}


def extracted_messages() -> dict:
    """(context, msgid) → first place it occurs, for drillmgr/ and templates/, with the mapping of
    drillmgr/babel.cfg; the context is None but for pgettext."""
    with open(PACKAGE / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = {}
    for folder in (PACKAGE, ROOT / "templates"):
        for filename, lineno, message, _comments, context in extract_from_dir(
            str(folder), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
        ):
            msgid = message if isinstance(message, str) else message[0]
            found.setdefault((context, msgid), f"{folder.name}/{filename}:{lineno}")
    return found


def catalogue_paths() -> list[Path]:
    return sorted(PACKAGE.glob("**/translations/zh_Hans_CN/LC_MESSAGES/messages.po"))


def merged_translations() -> dict:
    merged = {}
    for path in catalogue_paths():
        with open(path, "rb") as po:
            for message in read_po(po):
                if not message.id:
                    continue
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                if all(s and s.strip() for s in strings):
                    merged.setdefault((message.context, msgid), strings[0])
    return merged


def test_every_message_has_a_chinese_translation():
    messages = extracted_messages()
    assert len(messages) > 150, "extraction found suspiciously few messages"
    translated = merged_translations()
    missing = sorted((where, key) for key, where in messages.items() if key not in translated)
    report = "\n".join(
        f"  {where}: {msgid!r}" + (f" (context {context!r})" if context else "") for where, (context, msgid) in missing
    )
    assert not missing, (
        f"{len(missing)} messages have no zh_CN translation "
        f"(run `make messages FEATURE=<feature>` and fill the msgstr):\n{report}"
    )


def test_catalogues_are_well_formed():
    """Babel's checks: placeholders such as %(n)d agree between msgid and msgstr (else formatting fails)."""
    problems = []
    for path in catalogue_paths():
        with open(path, "rb") as po:
            catalogue = read_po(po)
        for message, errors in catalogue.check():
            problems += [f"  {path.relative_to(ROOT)}: {message.id!r}: {e}" for e in errors]
    assert catalogue_paths(), "no zh_CN catalogue found"
    assert not problems, "broken translations:\n" + "\n".join(problems)


def test_core_terms_use_the_official_chinese(app):
    from flask_babel import force_locale

    from drillmgr.enums import DrillForm, Focus, JointWith, Role

    with app.test_request_context(), force_locale("zh_CN"):
        assert [str(r.label) for r in Role] == ["地区管理员", "县（市）协调员", "单位工作人员", "只读用户"]
        assert [str(f.label) for f in DrillForm] == ["桌面推演", "实战演练", "避险疏散演练"]
        assert str(JointWith.CORPS.label) == "兵地联合"
        assert str(Focus.COMMAND_POST.label) == "现场指挥部搭建"
    with app.test_request_context(), force_locale("en"):
        assert str(Role.COORDINATOR.label) == "County coordinator"


def test_every_catalogue_is_where_flask_babel_looks():
    """Babel names the locale zh_CN zh_Hans_CN; Flask-Babel loads each folder of BABEL_TRANSLATION_DIRECTORIES
    for that name, so a catalogue in a zh_CN folder would be silently left out."""
    folders = {path.parent.parent.name for path in PACKAGE.glob("**/translations/*/LC_MESSAGES/messages.po")}
    assert folders == {"zh_Hans_CN"}


def test_a_word_with_two_meanings_is_translated_by_its_context(app):
    from flask_babel import force_locale, gettext, pgettext

    with app.test_request_context(), force_locale("zh_CN"):
        assert pgettext("drill status", "planned") == "计划中"
        assert pgettext("exercise objective", "planned") == "已列入目标"
        assert gettext("Planned") == "已计划"  # a feature's catalogue and the core one are both read
