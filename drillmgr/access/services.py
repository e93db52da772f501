"""Who may see and do what: every view, API handler, feed and job asks here (callers import this module as
`access`), and nowhere else. The rules live beside what they are about: `actors` (users and SYSTEM),
`scopes` (region subtrees, organisations, users), `drills` (the double-blind clause), and one module per
feature area; this module names the questions callers may ask.
"""
from drillmgr.access.actors import (
    SystemActor, SYSTEM, Actor, REGIONAL_ROLES, deny, not_found, acts_for_all, require, ROLE_POWER,
)
from drillmgr.access.scopes import (
    subtree_codes, region_in_subtree, region_clause, can_view_region, can_manage_region, manage_region_clause,
    org_clause, can_view_org, can_manage_org, can_edit_org_groups, get_visible_org, user_clause, can_view_user,
    can_grant, grantable_roles, home_region, can_manage_people_and_units, can_manage_user,
)
from drillmgr.access.drills import (
    is_secret, public_drill_clause, drill_clause, can_see_series_plan, can_view_drill, get_visible_drill,
    can_organise_for, can_plan_drills, can_plan_for_many, can_edit_drill, can_decide_filing, can_reopen_filing,
    participant_candidate_clause, evaluator_candidate_clause, not_secret_clause, secret_from_clause,
)
from drillmgr.access.activities import (
    outreach_clause, can_view_outreach, can_record_outreach, can_edit_outreach, site_clause, can_view_site,
    can_manage_sites, checklist_run_clause, can_view_checklist_run, can_fill_checklist_run,
    can_start_readiness_run, can_edit_checklist_templates,
)
from drillmgr.access.findings import (
    finding_clause, can_view_finding, get_visible_finding, can_manage_finding, can_verify_action, can_add_evidence,
    can_work_on_action, finding_owner_clause, action_owner_clause,
)
from drillmgr.access.compliance import (
    can_view_compliance, can_view_readiness_figures, can_view_unit_obligations, compliance_home_region,
    compliance_drill_clause, can_edit_compliance_rules, can_submit_half_year_report, can_decide_half_year_report,
    can_send_reminders, can_remind_org, COMPLIANCE_ROLES,
)
from drillmgr.access.feeds import (
    feed_org_drills, feed_region_drills, feed_own_drills, feed_personal_drills, can_subscribe_org, can_subscribe_region,
    feed_home_region, feed_shows_report_deadlines, notification_clause, can_view_job_runs, FEED_REGION_ROLES,
)
from drillmgr.access.exercises import (
    can_design_exercise, can_see_exercise_design, can_view_live_exercise, can_respond_to_injects,
    can_evaluate_exercise, can_edit_objective_templates, is_drill_evaluator,
)

__all__ = [
    "SystemActor", "SYSTEM", "Actor", "REGIONAL_ROLES", "deny", "not_found", "acts_for_all", "require",
    "ROLE_POWER", "subtree_codes", "region_in_subtree", "region_clause", "can_view_region", "can_manage_region",
    "manage_region_clause", "org_clause", "can_view_org", "can_manage_org", "can_edit_org_groups",
    "get_visible_org", "user_clause", "can_view_user", "can_grant", "grantable_roles", "home_region",
    "can_manage_people_and_units", "can_manage_user", "is_secret", "public_drill_clause", "drill_clause",
    "can_see_series_plan", "can_view_drill", "get_visible_drill", "can_organise_for", "can_plan_drills",
    "can_plan_for_many", "can_edit_drill", "can_decide_filing", "can_reopen_filing",
    "participant_candidate_clause", "evaluator_candidate_clause", "not_secret_clause", "secret_from_clause",
    "outreach_clause", "can_view_outreach", "can_record_outreach", "can_edit_outreach", "site_clause",
    "can_view_site", "can_manage_sites", "checklist_run_clause", "can_view_checklist_run",
    "can_fill_checklist_run", "can_start_readiness_run", "can_edit_checklist_templates", "finding_clause",
    "can_view_finding", "get_visible_finding", "can_manage_finding", "can_verify_action", "can_add_evidence",
    "can_work_on_action", "finding_owner_clause", "action_owner_clause", "can_view_compliance",
    "can_view_readiness_figures", "can_view_unit_obligations", "compliance_home_region", "compliance_drill_clause",
    "can_edit_compliance_rules", "can_submit_half_year_report", "can_decide_half_year_report",
    "can_send_reminders", "can_remind_org", "COMPLIANCE_ROLES", "feed_org_drills", "feed_region_drills",
    "feed_own_drills", "feed_personal_drills", "can_subscribe_org", "can_subscribe_region", "feed_home_region",
    "feed_shows_report_deadlines", "notification_clause", "can_view_job_runs", "FEED_REGION_ROLES",
    "can_design_exercise", "can_see_exercise_design", "can_view_live_exercise", "can_respond_to_injects",
    "can_evaluate_exercise", "can_edit_objective_templates", "is_drill_evaluator",
]
