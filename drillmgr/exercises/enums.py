"""The exercise feature's own enums (HSEEP's shape), with translatable labels."""
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from drillmgr.enums import LabelledEnum


class Rating(LabelledEnum):
    """HSEEP's evaluation rating of an objective (exercise evaluation guide)."""

    P = "P"
    S = "S"
    M = "M"
    U = "U"

    @classmethod
    def labels(cls) -> dict[LabelledEnum, LazyString]:
        return {
            cls.P: _l("P: performed without challenges"),
            cls.S: _l("S: performed with some challenges"),
            cls.M: _l("M: performed with major challenges"),
            cls.U: _l("U: unable to be performed"),
        }


class SessionStatus(LabelledEnum):
    """The live session of an exercise: before it exists the exercise is still in design."""

    RUNNING = "running"
    PAUSED = "paused"
    ENDED = "ended"

    @classmethod
    def labels(cls) -> dict[LabelledEnum, LazyString]:
        return {cls.RUNNING: _l("Under way"), cls.PAUSED: _l("Paused"), cls.ENDED: _l("Ended")}
