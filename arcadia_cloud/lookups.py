"""Query expressions the ORM does not spell."""

from __future__ import annotations

from django.db.models import Lookup


class AnyOfSubquery(Lookup):
    """`column = ANY(ARRAY(SELECT …))` on PostgreSQL (`column IN (SELECT …)` elsewhere): the
    subquery runs once, before the scan (an InitPlan), and its result is an array parameter an
    index condition can use — also inside an OR, where `IN (SELECT …)` becomes a filter
    evaluated row by row over a sequential scan. Use it as an expression:
    `Q(AnyOfSubquery(F("deployment_id"), deployments.values("pk")))`."""

    lookup_name = "any_of_subquery"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if not rhs.startswith("("):
            rhs = f"({rhs})"
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)
        return f"{lhs} IN {rhs}", (*lhs_params, *rhs_params)
