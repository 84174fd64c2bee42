"""Ready-made access policies that the Policies page offers as starting points, each a
valid policy of `iam.authz.cedar`'s schema (a test keeps them so)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyExample:
    key: str
    name: str
    description: str
    source: str


POLICY_EXAMPLES: tuple[PolicyExample, ...] = (
    PolicyExample(
        key="members-edit-own-deals",
        name="Members edit only deals they own",
        description="Members may still see every deal, but change only their own.",
        source="""// Members edit only the deals they own.
forbid (principal, action == MyCRM::Action::"edit", resource is MyCRM::Deal)
when { principal.roles.contains("member") }
unless { resource.owner == principal };
""",
    ),
    PolicyExample(
        key="managers-see-team-deals",
        name="Managers see their team's deals",
        description="Managers see the deals they own and those of the teams they manage.",
        source="""// Managers see only their own deals and those of the teams they manage.
forbid (principal, action == MyCRM::Action::"view", resource is MyCRM::Deal)
when { principal.roles.contains("manager") }
unless { resource.owner == principal || resource.owner in principal.managed_teams };
""",
    ),
    PolicyExample(
        key="contacts-export-office-hours",
        name="No contact exports outside office hours",
        description="Contacts are exported Monday to Friday, 9:00 to 18:00, in the "
        "organization's time zone.",
        source="""// Nobody exports contacts outside office hours (Monday to Friday, 9:00-18:00).
forbid (principal, action == MyCRM::Action::"export", resource)
when {
  context.record_type == "contact" &&
  (context.hour < 9 || context.hour >= 18 || context.weekday > 5)
};
""",
    ),
    PolicyExample(
        key="big-deals-won-by-managers",
        name="Deals over 100,000 are won by managers",
        description="Only managers, admins and owners move a deal over 100,000 to a won stage.",
        source="""// A deal over 100,000 needs a manager to move to Won.
forbid (principal, action == MyCRM::Action::"move", resource is MyCRM::Deal)
when { context.to_stage_kind == "won" && resource.amount > 100000 }
unless {
  principal.roles.contains("manager") ||
  principal.roles.contains("admin") ||
  principal.roles.contains("owner")
};
""",
    ),
)
