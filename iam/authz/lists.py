"""An organization's policies applied to lists, in the query.

A list can't ask Cedar row by row. Instead Cedar evaluates the policies once per list with
everything known except the record (`cedarpy.is_authorized_partial`): the principal, the
action and the context are bound, so what is left of each policy — its residual — is a
condition on the record alone ("its owner is user 5", "its amount is over 100,000", "its
stage is a won one"). This module writes those residuals as a Django `Q` over the record's
columns, so the database applies policies in the same statement that applies roles.

Only conditions on the record's own attributes (those `iam.authz.cedar.SCHEMA` gives it)
can become SQL: comparisons with values, `in` a team or user, `contains`, `is`, `has`,
`&&`, `||`, `!` and if-then-else. `policy_list_problems` refuses, when a policy is saved, a
statement about records that lists couldn't apply; should one still reach a list, a
forbid applies to every row and a permit to none, so an untranslatable policy can only
hide records, never show them.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cedarpy
import structlog
from django.db.models import Q

from iam.models import Team, TeamMember

from . import catalog, cedar

log = structlog.get_logger(__name__)

# What a decision on the whole record type is built from: True and False are decided
# outcomes; a Q is a condition the database evaluates per row.
Condition = Q | bool

# The actions lists are narrowed for (`iam.authz.engine.visible`).
LIST_ACTIONS = ("view", "edit", "delete", "assign", "move", "share")


class Untranslatable(ValueError):
    """A residual condition that SQL can't express; the message says which part."""


def and_(left: Condition, right: Callable[[], Condition]) -> Condition:
    if left is False:
        return False
    other = right()
    if left is True:
        return other
    if other is False:
        return False
    if other is True:
        return left
    return left & other


def or_(left: Condition, right: Callable[[], Condition]) -> Condition:
    if left is True:
        return True
    other = right()
    if left is False:
        return other
    if other is True:
        return True
    if other is False:
        return left
    return left | other


def not_(value: Condition) -> Condition:
    if isinstance(value, bool):
        return not value
    return ~value


def any_of(values: list[Condition]) -> Condition:
    result: Condition = False
    for value in values:
        result = or_(result, lambda value=value: value)  # type: ignore[misc]
    return result


# --- the record's attributes, as columns ----------------------------------------------


def _owner_in(record_type: str, users: Any) -> Q:
    """The record's owner (an activity's assignee, or else its author) is one of `users`
    (ids, or a subquery of ids)."""
    if record_type == "activity":
        return Q(assignee_id__in=users) | Q(assignee_id=None, created_by_id__in=users)
    return Q(owner_id__in=users)


def _no_owner(record_type: str) -> Q:
    if record_type == "activity":
        return Q(assignee_id=None, created_by_id=None)
    return Q(owner_id=None)


def _team_users(team_ids: list[int]) -> Any:
    """Everyone a `User in Team` holds for: the team's members and its manager, as the
    single-record decision gives an owner's entity those teams as parents."""
    members = TeamMember.objects.filter(team_id__in=team_ids).values("user_id")
    managers = Team.objects.filter(pk__in=team_ids, manager_id__isnull=False).values("manager_id")
    return members.union(managers)


def _entity(value: Any) -> tuple[str, str]:
    """`(type, id)` of an entity value, without the namespace."""
    if not (isinstance(value, dict) and "__entity" in value):
        raise Untranslatable(f"{json.dumps(value)} is not an entity")
    entity = value["__entity"]
    return entity["type"].removeprefix(f"{cedar.NAMESPACE}::"), str(entity["id"])


def _user_id(entity_id: str) -> int | None:
    """A user entity's id as a user id; "0" stands for no owner."""
    try:
        number = int(entity_id)
    except ValueError as exc:
        raise Untranslatable(f"user id {entity_id!r}") from exc
    return number or None


def _owner_is(record_type: str, value: Any) -> Q | bool:
    kind, entity_id = _entity(value)
    if kind != "User":
        return False
    user_id = _user_id(entity_id)
    return _no_owner(record_type) if user_id is None else _owner_in(record_type, [user_id])


def _owner_within(record_type: str, values: list[Any]) -> Condition:
    """`resource.owner in X`: X is the owner itself, or a team the owner is in."""
    users: list[int] = []
    teams: list[int] = []
    none = False
    for value in values:
        kind, entity_id = _entity(value)
        if kind == "User":
            user_id = _user_id(entity_id)
            none = none or user_id is None
            if user_id is not None:
                users.append(user_id)
        elif kind == "Team":
            try:
                teams.append(int(entity_id))
            except ValueError as exc:
                raise Untranslatable(f"team id {entity_id!r}") from exc
    result: Condition = _no_owner(record_type) if none else False
    if users:
        result = or_(result, lambda: _owner_in(record_type, users))
    if teams:
        result = or_(result, lambda: _owner_in(record_type, _team_users(teams)))
    return result


def _amount(op: str, number: int) -> Condition:
    """`resource.amount <op> number`, where Cedar sees the amount as a whole number
    (`int(amount)`, amounts are never negative) and the column keeps cents."""
    if op == "==":
        return Q(amount__gte=number, amount__lt=number + 1) if number >= 0 else False
    if op == "<":
        return Q(amount__lt=number)
    if op == "<=":
        return Q(amount__lt=number + 1)
    if op == ">":
        return Q(amount__gte=number + 1)
    return Q(amount__gte=number)  # ">="


_STAGE_KINDS = {
    "won": Q(stage__is_won=True),
    "lost": Q(stage__is_lost=True),
    "open": Q(stage__is_won=False, stage__is_lost=False),
}

# Text attributes of each record type and the column each one is.
_TEXT_COLUMNS: dict[str, dict[str, str]] = {
    "deal": {"currency": "currency", "pipeline": "pipeline__name", "stage": "stage__name"},
    "lead": {"status": "status", "source": "source"},
    "activity": {"kind": "kind"},
}


def attributes_of(record_type: str) -> set[str]:
    columns = _TEXT_COLUMNS.get(record_type, {})
    extra = {"amount", "stage_kind"} if record_type == "deal" else set()
    return {"owner"} | set(columns) | extra


def _equals(record_type: str, attr: str, value: Any) -> Condition:
    if attr == "owner":
        return _owner_is(record_type, value)
    if attr == "amount":
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return _amount("==", value)
    if not isinstance(value, str):
        return False
    if attr == "stage_kind":
        return _STAGE_KINDS.get(value, False)
    column = _TEXT_COLUMNS.get(record_type, {}).get(attr)
    if column is None:
        raise Untranslatable(f"resource.{attr} on a {record_type}")
    return Q(**{column: value})


# --- residual expressions -------------------------------------------------------------

_COMPARE_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass
class _Translator:
    """Writes one record type's residual conditions as a Q. With `check_only`, other
    unknowns (the principal, the context) are accepted as opaque values, to tell whether a
    policy's conditions on records could be applied to lists at all."""

    record_type: str
    check_only: bool = False

    @property
    def cedar_type(self) -> str:
        return next(t.cedar_type for t in catalog.RECORD_TYPES if t.key == self.record_type)

    def condition(self, expr: dict[str, Any]) -> Condition:
        (op, arg), *_ = expr.items()
        if op == "Value":
            if isinstance(arg, bool):
                return arg
            raise Untranslatable(f"{json.dumps(arg)} as a condition")
        if self.check_only and not _mentions_resource(expr):
            return Q()  # known at decision time: stands for either outcome
        if op == "&&":
            return and_(self.condition(arg["left"]), lambda: self.condition(arg["right"]))
        if op == "||":
            return or_(self.condition(arg["left"]), lambda: self.condition(arg["right"]))
        if op == "!":
            return not_(self.condition(arg["arg"]))
        if op == "if-then-else":
            test = self.condition(arg["if"])
            return or_(
                and_(test, lambda: self.condition(arg["then"])),
                lambda: and_(not_(test), lambda: self.condition(arg["else"])),
            )
        if op == "is":
            if "in" in arg or not _is_resource(arg["left"]):
                raise Untranslatable("`is … in` or `is` of something other than the record")
            return arg["entity_type"] == f"{cedar.NAMESPACE}::{self.cedar_type}"
        if op == "has":
            if not _is_resource(arg["left"]):
                raise Untranslatable("`has` of something other than the record")
            return arg["attr"] in attributes_of(self.record_type)
        if op in ("==", "!="):
            equal = self._compare_equal(arg["left"], arg["right"])
            return equal if op == "==" else not_(equal)
        if op in _COMPARE_FLIP:
            return self._compare_order(op, arg["left"], arg["right"])
        if op == "in":
            return self._within(arg["left"], arg["right"])
        if op == "contains":
            return self._contains(arg["left"], arg["right"])
        raise Untranslatable(f"`{op}` on {_describe(expr) or 'the record'}")

    # Each comparison has the record's attribute on one side and a value on the other.

    def _attribute(self, expr: dict[str, Any]) -> str | None:
        """The attribute name when `expr` is `resource.<attr>`; None when it doesn't
        involve the record; Untranslatable for any other use of the record."""
        if not _mentions_resource(expr):
            return None
        dot = expr.get(".")
        if dot is None or not _is_resource(dot["left"]):
            raise Untranslatable(_describe(expr) or "this use of the record")
        attr: str = dot["attr"]
        if attr not in attributes_of(self.record_type):
            raise Untranslatable(f"resource.{attr} on a {self.record_type}")
        return attr

    def _value(self, expr: dict[str, Any]) -> Any:
        if "Value" in expr:
            return expr["Value"]
        if "Set" in expr:
            return [self._value(item) for item in expr["Set"]]
        if self.check_only:
            return _OPAQUE
        raise Untranslatable(_describe(expr) or "a value computed from the record")

    def _sides(self, left: dict[str, Any], right: dict[str, Any]) -> tuple[str, Any, bool]:
        """(attribute, value, whether the attribute was on the right)."""
        attr = self._attribute(left)
        if attr is not None:
            if self._attribute(right) is not None:
                raise Untranslatable("a comparison of the record with itself")
            return attr, self._value(right), False
        attr = self._attribute(right)
        if attr is None:
            raise Untranslatable("a comparison without the record")
        return attr, self._value(left), True

    def _compare_equal(self, left: dict[str, Any], right: dict[str, Any]) -> Condition:
        attr, value, _ = self._sides(left, right)
        if value is _OPAQUE:
            return Q()
        return _equals(self.record_type, attr, value)

    def _compare_order(self, op: str, left: dict[str, Any], right: dict[str, Any]) -> Condition:
        attr, value, flipped = self._sides(left, right)
        if attr != "amount":
            raise Untranslatable(f"`{op}` on resource.{attr}")
        if value is _OPAQUE:
            return Q()
        if not isinstance(value, int) or isinstance(value, bool):
            raise Untranslatable(f"`{op}` with {json.dumps(value)}")
        return _amount(_COMPARE_FLIP[op] if flipped else op, value)

    def _within(self, left: dict[str, Any], right: dict[str, Any]) -> Condition:
        attr = self._attribute(left)
        if attr != "owner" or self._attribute(right) is not None:
            raise Untranslatable("`in` other than `resource.owner in` a user or team")
        value = self._value(right)
        if value is _OPAQUE:
            return Q()
        return _owner_within(self.record_type, value if isinstance(value, list) else [value])

    def _contains(self, left: dict[str, Any], right: dict[str, Any]) -> Condition:
        attr = self._attribute(right)
        if attr is None or self._attribute(left) is not None:
            raise Untranslatable("`contains` other than a set of values holding the record's")
        values = self._value(left)
        if values is _OPAQUE:
            return Q()
        if not isinstance(values, list):
            raise Untranslatable("`contains` on something other than a set")
        return any_of([_equals(self.record_type, attr, value) for value in values])


_OPAQUE = object()


def _is_resource(expr: dict[str, Any]) -> bool:
    unknown = expr.get("unknown")
    if unknown is not None:
        return bool(unknown) and unknown[0].get("Value") == "resource"
    return expr.get("Var") == "resource"


def _mentions_resource(expr: Any) -> bool:
    if isinstance(expr, dict):
        if _is_resource(expr):
            return True
        return any(_mentions_resource(value) for value in expr.values())
    if isinstance(expr, list):
        return any(_mentions_resource(item) for item in expr)
    return False


def _describe(expr: Any) -> str:
    """The record's attribute path `expr` uses ("resource.owner.email"), for messages."""
    if isinstance(expr, dict):
        dot = expr.get(".")
        if dot is not None:
            inner = _describe(dot["left"])
            if inner.startswith("resource"):
                return f"{inner}.{dot['attr']}"
        if _is_resource(expr):
            return "resource"
        values: list[Any] = list(expr.values())
    elif isinstance(expr, list):
        values = expr
    else:
        return ""
    for value in values:
        found = _describe(value)
        if found:
            return found
    return ""


def _statement_condition(statement: dict[str, Any], translator: _Translator) -> Condition:
    """A residual statement's conditions together (its scope is already folded in)."""
    for part in ("principal", "action", "resource"):
        if statement.get(part, {}).get("op", "All") != "All":
            raise Untranslatable(f"a {part} scope left in a residual")
    result: Condition = True
    for clause in statement.get("conditions", []):
        body = translator.condition(clause["body"])
        body = body if clause["kind"] == "when" else not_(body)
        result = and_(result, lambda body=body: body)  # type: ignore[misc]
    return result


# --- lists ----------------------------------------------------------------------------


def allowed_condition(
    *,
    policies: list[cedar.StoredPolicy],
    record_type: str,
    request: dict[str, Any],
    entities: list[dict[str, Any]],
) -> Condition:
    """Where, among records of `record_type`, Cedar allows `request` (principal, action
    and context bound; the record unknown), as a condition on the record's columns."""
    texts = [cedar.BASE_POLICY] + [policy.source for policy in policies]
    result = cedarpy.is_authorized_partial(
        request, cedar.policy_set("\n".join(texts)), entities, cedar.schema()
    )
    errors = result._authz_resp.get("diagnostics", {}).get("errors", [])
    if errors:
        log.warning("authz.list_policies_errors", errors=errors[:3])
    translator = _Translator(record_type)
    permits: list[Condition] = []
    forbids: list[Condition] = []
    for statement_id, statement in sorted(result.residuals.items()):
        forbid = statement.get("effect") == "forbid"
        try:
            condition = _statement_condition(statement, translator)
        except Untranslatable as exc:
            log.warning("authz.list_policy_untranslatable", statement=statement_id, part=str(exc))
            condition = forbid  # a forbid hides every row; a permit shows none
        (forbids if forbid else permits).append(condition)
    return and_(any_of(permits), lambda: not_(any_of(forbids)))


def policy_list_problems(source: str) -> list[str]:
    """What in a (valid) policy text lists couldn't apply: conditions on records beyond
    their own attributes compared with values. Empty when lists can apply it all."""
    problems: list[str] = []
    parsed = cedarpy.PolicySet.from_str(source)
    for record_type in (t.key for t in catalog.RECORD_TYPES):
        for action in LIST_ACTIONS:
            if action == "move" and record_type != "deal":
                continue
            request = {
                "action": f'{cedar.NAMESPACE}::Action::"{action}"',
                "context": None,
            }
            result = cedarpy.is_authorized_partial(request, parsed, [], cedar.schema())
            translator = _Translator(record_type, check_only=True)
            for statement in result.residuals.values():
                try:
                    _statement_condition(statement, translator)
                except Untranslatable as exc:
                    problem = (
                        f"Lists can't apply {exc}: compare the record's own attributes "
                        "(owner, amount, stage, status…) with values instead."
                    )
                    if problem not in problems:
                        problems.append(problem)
    return problems
