"""What inventory tells the floors above without importing them (they connect receivers in
their AppConfig.ready): sent inside the writer's transaction, so a receiver's writes commit or
roll back with the change."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `history_record` with `resource_ids` (a list of ints): resources whose deployment or
# own tenant changed, i.e. whose cost lines are now attributed elsewhere (billing keeps its
# margin COGS summaries in step, issue 22).
resource_attribution_changed = Signal()
