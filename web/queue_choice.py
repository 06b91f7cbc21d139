"""The queue-or-campaign select of forms and filters (callbacks, history): what it offers
and what a submitted value means.

Values are refs (``queue:3``, ``campaign:7``, crm/queues.py); '' is none. A form that
creates something offers live queues and campaigns only; a filter offers archived ones
too, since old rows refer to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm import queue_store
from crm.db import Database
from crm.errors import CrmError
from crm.queues import Campaign, Kind, Queue, parse_ref


@dataclass(frozen=True)
class Choices:
    queues: list[Queue]
    campaigns: list[Campaign]


@dataclass(frozen=True)
class Chosen:
    """A submitted choice: the queue's or campaign's id (both None: none) and its name."""

    queue_id: int | None = None
    campaign_id: int | None = None
    name: str = ""


def is_ref(value: str) -> bool:
    """Whether a value is meant as a queue or campaign (else it is free text, or none)."""
    return value.strip().startswith((f"{Kind.QUEUE.value}:", f"{Kind.CAMPAIGN.value}:"))


async def choices(db: Database, *, include_archived: bool) -> Choices:
    return Choices(await queue_store.list_queues(db, include_archived=include_archived),
                   await queue_store.list_campaigns(db, include_archived=include_archived))


async def chosen(db: Database, value: str, *, live_only: bool) -> Chosen:
    """What a submitted value names; ``CrmError`` (unknown, archived) for a bad one."""
    ref = parse_ref(value)
    if ref is None:
        return Chosen()
    item = await queue_store.get_item(db, *ref)
    if item is None:
        raise CrmError(f"no {value}", key="queues.error.unknown")
    if live_only and item.archived:
        raise CrmError(f"{value} archived", key="queues.error.archived", title=item.name)
    if ref[0] is Kind.QUEUE:
        return Chosen(queue_id=item.id, name=item.name)
    return Chosen(campaign_id=item.id, name=item.name)
