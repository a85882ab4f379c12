"""A goal's `where`: conditions on the event's conversation or ticket, its contact and the
contact's companies, parsed once from the config and checked on each event. Pure: no I/O.

Series starts a goal on "a filter on user attributes or events"; these are those filters.
They see Intercom's values when the syncer reads the event, at most one poll cycle old (a
catch-up: today's, read since it started; README "What a filter sees"). A condition on a
field that never changes after the event and is documented as searchable is also put into
the search (`pushdown`), where it only saves pages: every event is still checked here.

One job a module: `fields` (what may be named), `conditions` (a condition, and how it reads
in a reason), `parse` (the config's `where` table into conditions), `seen` (what a condition
reads of an event), `evaluate` (whether the event holds them), `search` (what is pushed into
the search). The names the rest of the syncer uses are here.
"""

from syncer.filters.conditions import Condition, tag_names
from syncer.filters.evaluate import rejection
from syncer.filters.parse import parse_where
from syncer.filters.search import pushdown
from syncer.filters.seen import Seen, subject

__all__ = [
    "Condition",
    "Seen",
    "parse_where",
    "pushdown",
    "rejection",
    "subject",
    "tag_names",
]
