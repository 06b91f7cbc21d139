"""Which queues and campaigns an agent works, as rules; no I/O.

Theory of operation
-------------------
On top of an agent's status (crm/agent_states.py) sits the set of queues and campaigns
they are logged in to. Logging in overall (the status control's *Log in*, ``**1`` on the
keypad, going online from logged out) logs them in to every queue they are a member of
and every campaign of theirs that is running; logging out overall logs them out of all.
In between, they log in and out of single ones they are members of; logging in to one
while logged out overall also logs them in overall, to that one only.

An inbound call that came through a queue rings the agent only when they are available
**and** logged in to that queue; a call that came through no known queue rings them
when they are available, as before queues existed. Otherwise the gateway answers 486 so
the PBX moves on to another member.

An outbound call belongs to the campaign the agent chose among those they are logged in
to; with one, that one; with none, no campaign (the default disposition policy applies).

Refusals are ``InvalidValue`` with a key that says what to do: unknown queue,
archived, not a member, campaign not running. Campaign days are the deployment's
(``queues.day_in``); once a campaign's last day has passed, ``campaigns_over`` names the
logins the gateway ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from crm.agent_states import AgentState
from crm.errors import InvalidValue, NotFound
from crm.queues import Campaign, Kind, Queue


@dataclass(frozen=True)
class Logins:
    """The queues and campaigns an agent is logged in to, and their outbound pick."""

    queues: frozenset[int] = frozenset()
    campaigns: frozenset[int] = frozenset()
    chosen_campaign: int | None = None

    def has(self, kind: Kind, item_id: int) -> bool:
        return item_id in (self.queues if kind is Kind.QUEUE else self.campaigns)

    def with_item(self, kind: Kind, item_id: int, logged_in: bool) -> Logins:
        """These logins after logging in to / out of one queue or campaign."""
        items = self.queues if kind is Kind.QUEUE else self.campaigns
        items = items | {item_id} if logged_in else items - {item_id}
        if kind is Kind.QUEUE:
            return replace(self, queues=items)
        return replace(self, campaigns=items,
                       chosen_campaign=pick_campaign(items, self.chosen_campaign))


def pick_campaign(campaigns: frozenset[int], chosen: int | None) -> int | None:
    """The campaign outbound calls go to: the chosen one while logged in to it, else the
    only one, else none (the agent picks when there are several)."""
    if chosen is not None and chosen in campaigns:
        return chosen
    if len(campaigns) == 1:
        return next(iter(campaigns))
    return None


def check_login(item: Queue | Campaign | None, user_id: int, today: date) -> None:
    """Raise unless the user may log in to ``item`` (looked up by the id they sent)."""
    if item is None:
        raise NotFound("no such queue or campaign", key="queues.error.unknown")
    if item.archived:
        raise InvalidValue(f"{item.name} is archived", key="queues.error.archived",
                           title=item.name)
    if user_id not in item.members:
        raise InvalidValue(f"not a member of {item.name}", key="queues.error.not_member",
                           title=item.name)
    if isinstance(item, Campaign) and not item.running(today):
        raise InvalidValue(f"{item.name} is not running", key="queues.error.not_running",
                           title=item.name)


def login_all(queues: list[Queue], campaigns: list[Campaign], today: date,
              chosen: int | None) -> Logins:
    """Logged in to every queue in ``queues`` and every running one of ``campaigns``
    (the agent's live memberships)."""
    running = frozenset(c.id for c in campaigns if c.running(today))
    return Logins(queues=frozenset(q.id for q in queues), campaigns=running,
                  chosen_campaign=pick_campaign(running, chosen))


def campaigns_over(logins: Mapping[int, Logins], campaigns: Mapping[int, Campaign],
                   today: date) -> list[tuple[int, int]]:
    """(agent, campaign) logins to end because the campaign's last day has passed (the
    gateway's periodic check logs them out). A campaign not found is left alone: removing
    one is handled where it is removed."""
    return sorted((user_id, campaign_id) for user_id, current in logins.items()
                  for campaign_id in current.campaigns
                  if campaign_id in campaigns and campaigns[campaign_id].over(today))


def check_choice(logins: Logins, campaign_id: int) -> None:
    """An agent may only send their calls to a campaign they are logged in to."""
    if campaign_id not in logins.campaigns:
        raise InvalidValue("not logged in to that campaign",
                           key="queues.error.not_logged_in")


def may_ring(state: AgentState, logins: Logins, queue_id: int | None) -> bool:
    """Whether an inbound call (through ``queue_id``, None = no known queue) may ring."""
    return state.takes_calls and (queue_id is None or queue_id in logins.queues)
