"""The exercise rules of drillmgr.access, as a role × rule matrix, before and after the console starts the
double-blind tabletop (the drill starts then)."""

import pytest

from drillmgr.access import services as access
from drillmgr.exercises.sessions import start_session
from tests.exercises_world import world  # noqa: F401 — fixture

ROLES = ("admin", "coordinator", "other_coordinator", "organiser", "evaluator", "player", "outsider", "viewer")
Y, N = True, False
RULES = {
    "design": (lambda u, w: access.can_design_exercise(u, w.drill), (Y, Y, N, Y, N, N, N, N)),
    "see design": (lambda u, w: access.can_see_exercise_design(u, w.drill), (Y, Y, N, Y, Y, N, N, N)),
    "respond": (lambda u, w: access.can_respond_to_injects(u, w.drill), (N, N, N, N, N, Y, N, N)),
    "evaluate": (lambda u, w: access.can_evaluate_exercise(u, w.drill), (N, N, N, N, Y, N, N, N)),
    "templates": (lambda u, w: access.can_edit_objective_templates(u), (Y, N, N, N, N, N, N, N)),
}
LIVE_BEFORE = (Y, Y, N, Y, Y, N, N, N)
LIVE_AFTER = (Y, Y, N, Y, Y, Y, N, Y)


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("role", ROLES)
def test_rule_matrix(world, rule, role):
    check, expected = RULES[rule]
    assert check(getattr(world, role), world) is expected[ROLES.index(role)]


@pytest.mark.parametrize("role", ROLES)
def test_live_exercise_hidden_until_the_console_starts_it(world, role):
    user = getattr(world, role)
    assert access.can_view_live_exercise(user, world.drill, None) is LIVE_BEFORE[ROLES.index(role)]
    session = start_session(world.organiser, world.drill)
    assert access.can_view_live_exercise(user, world.drill, session) is LIVE_AFTER[ROLES.index(role)]
