"""The exercise feature's own enums (HSEEP's shape), with translatable labels."""

from flask_babel import lazy_gettext as _l

from drillmgr.enums import LabelledEnum


class Rating(LabelledEnum):
    """HSEEP's evaluation rating of an objective (exercise evaluation guide)."""

    P = "P", _l("P: performed without challenges")
    S = "S", _l("S: performed with some challenges")
    M = "M", _l("M: performed with major challenges")
    U = "U", _l("U: unable to be performed")


class SessionStatus(LabelledEnum):
    """The live session of an exercise: before it exists the exercise is still in design."""

    RUNNING = "running", _l("Under way")
    PAUSED = "paused", _l("Paused")
    ENDED = "ended", _l("Ended")
