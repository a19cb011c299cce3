"""A study's episodes in the datasets: which may be exported, and what their context shows.

Registered with ``exports.scopes`` under ``"study"`` (the key of a block's ``Episode.context``)
in ``StudiesConfig.ready``, so ``export_dataset --study SLUG [--condition NAME]`` exports
exactly a study's block episodes, and no export at all includes a withdrawn participant's.

**A participant's pseudonym** is ``participant_pseudonym``: the datasets' keyed hash
(``exports.services.user_pseudonym``, HMAC-SHA256 under ``ARCADE_PSEUDONYM_KEY``) of
``participant:<their id>``. Of the participant rather than of their account because every
participant has one (an account is made only at their first game block) and it is one study's
(a signed-in person who takes two studies is not linked across them by the study files); the
``participant:`` prefix keeps it apart from any user's pseudonym. The same pseudonym names
them in their episodes' context and in every ``export_study`` file, which join on it.
"""

from __future__ import annotations

from typing import Any

from exports.scopes import Scope, Unknown
from exports.services import user_pseudonym

from .models import BlockEpisode, Participant, Study

FIELDS = (
    ("study", "string", "the study's slug (a study's game block)"),
    ("study_version", "int", "the study's version the participants took"),
    ("step", "int", "the id of the game block's step"),
    ("block", "string", "the game block's title (its step's title)"),
    (
        "participants",
        "list<string>",
        "the participants who played it, as pseudonyms (the study's files name them so)",
    ),
    ("positions", "list<int>", "each participant's position of the block in their plan, from 0"),
    ("conditions", "list<string>", "each participant's condition (empty: the study has none)"),
)


def participant_pseudonym(participant_id: Any) -> str:
    return user_pseudonym(f"participant:{participant_id}")


def withheld() -> Any:
    """Episodes of a block any of whose participants has left the exports (withdrew)."""
    gone = Participant.objects.exclude(pk__in=Participant.objects.in_exports().values("pk"))
    return BlockEpisode.objects.filter(participant__in=gone).values("episode_id")


def study_episodes(slug: str, condition: str | None) -> Any:
    """The block episodes of the study's participants still in its exports (of one condition)."""
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise Unknown(f"there is no study {slug!r}: give a study's slug (its link is /s/<slug>/)")
    kept = Participant.objects.filter(study=study).in_exports()
    if condition is not None:
        names = list(study.conditions.values_list("name", flat=True))
        if condition not in names:
            known = ", ".join(repr(name) for name in names) or "none"
            raise Unknown(f"study {slug!r} has no condition {condition!r} (it has: {known})")
        kept = kept.filter(condition__name=condition)
    return (
        BlockEpisode.objects.filter(participant__in=kept)
        .exclude(episode__in=withheld())
        .values("episode_id")
    )


def exported_context(context: dict[str, Any]) -> dict[str, Any]:
    """A block's context with its participants as pseudonyms. Only the keys of ``FIELDS`` are
    kept, so a key added to the context later is not exported until it is described here."""
    shown = {name: context[name] for name, _, _ in FIELDS if name in context}
    shown["participants"] = [participant_pseudonym(p) for p in context.get("participants", [])]
    return shown


SCOPE = Scope(
    name="study",
    episodes=study_episodes,
    withheld=withheld,
    context=exported_context,
    fields=FIELDS,
)
