"""Hotline traffic: messages, their recipients' receipts and replies, escalation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

BROADCAST = "all"  # a message's ``to`` for every operator and authority but the sender


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    DISTRESS = "distress"


class ReplyKind(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    WILL_COMPLY = "will_comply"
    UNABLE = "unable"
    STANDBY = "standby"  # "wait": holds escalation off for one more deadline


@dataclass(frozen=True, slots=True)
class Message:
    """One message from ``sender`` to a party or to ``"all"``; ``refs`` name operations,
    alerts or constraints."""

    id: str
    sender: str
    to: str
    urgency: Urgency
    subject: str
    body: str
    refs: tuple[str, ...]
    time: float


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient's side of a message: receipt, latest reply, escalation timer."""

    message_id: str
    party: str
    delivered_at: float | None = None
    reply: ReplyKind | None = None
    reply_text: str | None = None
    replied_at: float | None = None
    escalations: int = 0
    escalate_at: float | None = None  # None once a final reply stops escalation

    @property
    def status(self) -> str:
        """sent → delivered → replied."""
        if self.reply is not None:
            return "replied"
        return "delivered" if self.delivered_at is not None else "sent"
