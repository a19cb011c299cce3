"""What completed participants earned in a study's game blocks, as the file Prolific's or
MTurk's bulk bonus payment takes.

These are the only files Arcade writes with raw recruitment ids (a bonus is paid to a
Prolific or MTurk id), so they have a command and an admin action of their own, for staff who
may see recruitment ids; the study's data files (``studies.datafiles``) never carry them.

A participant's bonus is each of their game blocks' bonus (``services.block_progress``: per
point and per minute, capped per block) to the cent, as the block's live panel showed it to
them, added up. Only completed participants with a bonus above zero are paid.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal

from . import services
from .models import Participant, Step, Study
from .scope import participant_pseudonym

PLATFORMS = {"prolific": Participant.Source.PROLIFIC, "mturk": Participant.Source.MTURK}
# MTurk's SendBonus takes these (its requester site has no bulk upload): WorkerId, BonusAmount
# (US dollars, e.g. "1.50"), AssignmentId (of the worker's assignment), Reason (shown to the
# worker) and an optional UniqueRequestToken, which makes sending the same bonus twice fail.
MTURK_COLUMNS = ["WorkerId", "AssignmentId", "BonusAmount", "Reason", "UniqueRequestToken"]


@dataclass(frozen=True)
class Bonus:
    participant: Participant
    amount: Decimal


def participant_bonus(participant: Participant) -> Decimal:
    blocks = Step.objects.filter(pk__in=participant.plan, kind=Step.Kind.GAME).select_related(
        "game"
    )
    return sum(
        (Decimal(f"{services.block_progress(participant, block).bonus:.2f}") for block in blocks),
        Decimal("0.00"),
    )


def study_bonuses(study: Study) -> list[Bonus]:
    """Completed participants' bonuses above zero, in the order they entered."""
    completed = Participant.objects.filter(study=study, state=Participant.State.COMPLETED).order_by(
        "started_at", "pk"
    )
    bonuses = [Bonus(p, participant_bonus(p)) for p in completed]
    return [bonus for bonus in bonuses if bonus.amount > 0]


@dataclass
class Sheet:
    """One platform's bonus file, and the bonuses it could not hold (and why)."""

    platform: str
    text: str = ""
    paid: int = 0
    total: Decimal = Decimal("0.00")
    left_out: list[str] = field(default_factory=list)  # "<pseudonym> (<amount>): why"

    def lines(self) -> list[str]:
        return [
            f"{self.paid} bonuses, {self.total:.2f} in all, for {self.platform}.",
            *(f"  left out {why}" for why in self.left_out),
        ]


def bonus_sheet(study: Study, platform: str, *, reason: str = "") -> Sheet:
    """Prolific: ``<PROLIFIC_PID>,<amount>`` lines, no header (its "Bulk bonus payment" box).
    MTurk: a CSV of ``MTURK_COLUMNS``; ``reason`` (shown to the worker) defaults to naming
    the study."""
    source = PLATFORMS[platform]
    reason = reason or f"Your bonus for the game blocks of {study.title}."
    sheet = Sheet(platform=platform)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if platform == "mturk":
        writer.writerow(MTURK_COLUMNS)
    for bonus in study_bonuses(study):
        participant, amount = bonus.participant, f"{bonus.amount:.2f}"
        who = f"{participant_pseudonym(participant.pk)} ({amount})"
        if participant.source != source:
            sheet.left_out.append(
                f"{who}: came by {participant.get_source_display()}, not {platform}"
            )
            continue
        if platform == "prolific":
            writer.writerow([participant.external_id, amount])
        else:
            assignment = participant.parameters.get("assignmentId", "")
            if not assignment:
                sheet.left_out.append(f"{who}: their link had no assignmentId to pay against")
                continue
            token = f"arcade-bonus-{participant.pk.hex}"  # one bonus per participant, ever
            writer.writerow([participant.external_id, assignment, amount, reason, token])
        sheet.paid += 1
        sheet.total += bonus.amount
    sheet.text = out.getvalue()
    return sheet
