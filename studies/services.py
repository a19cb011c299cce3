"""What happens to a study's participants: entry, the walk through their plan, completion,
withdrawal. Views call these and show what they return or the ``Refusal`` they raise.

Every change of a participant's state is a conditional update (``UPDATE ... WHERE position =
the step the request was for``): a request replayed, sent from a stale tab or raced by another
process changes nothing and is refused, and what a step writes (answers, consent) is written in
the same transaction as the move past it, so nothing is half-written.
"""

from __future__ import annotations

import random
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from recording.models import Episode

from . import plan, scores
from .models import (
    Answer,
    BlockEpisode,
    Condition,
    Participant,
    ProblemReport,
    Step,
    StepVisit,
    Study,
)

PROLIFIC = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
MTURK = ("workerId", "assignmentId", "hitId")
PARAMETER_MAX = 200  # characters of one kept parameter's value
REPORT_MAX = 2000
ACTIVE = (Participant.State.STARTED, Participant.State.CONSENTED)
SEEN_EVERY = timedelta(minutes=1)  # how often a participant's last sign of life is written


class Refusal(Exception):
    """A request the study cannot take, and the page that says why."""

    def __init__(self, title: str, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Recruitment:
    source: str
    external_id: str
    generated: bool
    parameters: dict[str, str]


def recruitment(study: Study, query: Mapping[str, str], *, user_id: int | None) -> Recruitment:
    """Who a link's parameters say the participant is, and what of them to keep."""
    names = (*PROLIFIC, *MTURK, *study.extra_parameters)
    kept = {name: str(query[name])[:PARAMETER_MAX] for name in names if query.get(name)}
    if kept.get("PROLIFIC_PID"):
        return Recruitment(Participant.Source.PROLIFIC, kept["PROLIFIC_PID"], False, kept)
    if kept.get("workerId"):
        return Recruitment(Participant.Source.MTURK, kept["workerId"], False, kept)
    if user_id is not None:
        return Recruitment(Participant.Source.ACCOUNT, f"user:{user_id}", False, kept)
    return Recruitment(Participant.Source.LINK, uuid.uuid4().hex, True, kept)


def enter(
    study: Study,
    query: Mapping[str, str],
    *,
    session_key: str,
    user: Any = None,
    returning: Participant | None = None,
) -> Participant:
    """The participant this browser is in the study: the one it already holds (coming back
    resumes), or a new one with a condition and a plan. Refusal when the study is not open,
    full, or the recruitment id has taken part from another browser."""
    signed_in = user is not None and user.is_authenticated
    if returning is not None and returning.study_id == study.pk:
        return returning
    if study.status == Study.Status.DRAFT and not (signed_in and user.is_staff):
        raise Refusal("This study is not open", "This study has not started yet.", status=404)
    if study.status != Study.Status.DRAFT and not study.is_open():
        raise Refusal(
            "This study is closed", "This study is not taking participants now. Thank you!"
        )
    if study.audience == Study.Audience.SIGNED_IN and not signed_in:
        raise Refusal("Please log in", "Log in to take part in this study.", status=403)
    who = recruitment(study, query, user_id=user.pk if signed_in else None)
    existing = Participant.objects.filter(
        study=study, source=who.source, external_id=who.external_id
    ).first()
    if existing is not None:
        if existing.session_key and existing.session_key == session_key:
            return existing
        raise _taken_part()
    try:
        with transaction.atomic():
            # One entry at a time per study, across processes: the count against the limit and
            # the condition balance are read and written under this row's lock.
            locked = Study.objects.select_for_update().get(pk=study.pk)
            limit = locked.max_participants
            if (
                limit is not None
                and Participant.objects.filter(study=locked).counted().count() >= limit
            ):
                raise Refusal("This study is full", "This study has all the participants "
                                  "it needs. Thank you for your interest!")  # fmt: skip
            condition = assign_condition(locked)
            drawn = draw_plan(locked, condition, random.Random(secrets.randbits(64)))
            return Participant.objects.create(
                study=locked,
                study_version=locked.version,
                source=who.source,
                external_id=who.external_id,
                generated_id=who.generated,
                parameters=who.parameters,
                user=user if signed_in else None,
                session_key=session_key,
                condition=condition,
                plan=drawn.steps,
                drawn=drawn.drawn,
            )
    except IntegrityError:  # the same id entered at the same moment from another browser
        raise _taken_part() from None


def _taken_part() -> Refusal:
    return Refusal(
        "You have already taken part",
        "This study can be taken once per person, and your id has already been used to take "
        "part from another browser. If you think this is wrong, contact the researchers.",
        status=403,
    )


def assign_condition(study: Study) -> Condition | None:
    """CrowdPlay's rule: the condition with the fewest completed participants; among those,
    the fewest still walking (so participants arriving together are spread too); then the
    first. Called under the study's row lock."""
    if not study.steps.filter(kind=Step.Kind.CONDITIONS, retired_at__isnull=True).exists():
        return None
    conditions = study.conditions.annotate(
        completed=Count("participants", filter=Q(participants__state=Participant.State.COMPLETED)),
        walking=Count("participants", filter=Q(participants__state__in=ACTIVE)),
    ).order_by("completed", "walking", "order", "id")
    return conditions.first()


def draw_plan(study: Study, condition: Condition | None, rng: random.Random) -> plan.Plan:
    steps = [
        plan.PlanStep(s.pk, s.kind, s.order, s.parent_id, s.condition_id, s.pick)
        for s in study.current_steps()
    ]
    return plan.flatten(steps, condition=condition.pk if condition else None, rng=rng)


# --- the walk -------------------------------------------------------------------------------


def current_step(participant: Participant) -> Step | None:
    step_id = participant.current_step_id
    return None if step_id is None else Step.objects.get(pk=step_id)


@dataclass(frozen=True, slots=True)
class Whereabouts:
    """Where a participant's page is: the score page they have yet to continue from (shown
    before anything else), else their current step and their visit to it (None when every
    step is done)."""

    score_page: StepVisit | None = None
    visit: StepVisit | None = None

    @property
    def step(self) -> Step | None:
        return self.visit.step if self.visit is not None else None


def _due_or_current() -> Q:
    """The visits a page needs: the current step's, and a block's score page not yet seen."""
    return Q(position=F("participant__position")) | Q(
        score_page__isnull=False, score_seen_at__isnull=True
    )


def whereabouts(participant: Participant) -> Whereabouts:
    """Read with the visits they need in one query, with the current step; the current
    step's visit is begun the first time it is shown."""
    visits = list(participant.visits.filter(_due_or_current()).select_related("step"))
    return _where(participant, visits)


def _where(participant: Participant, visits: list[StepVisit]) -> Whereabouts:
    due = next((v for v in visits if v.score_page is not None and v.score_seen_at is None), None)
    if due is not None:
        return Whereabouts(score_page=due)
    if participant.current_step_id is None:
        return Whereabouts()
    here = next((v for v in visits if v.position == participant.position), None)
    return Whereabouts(visit=here or visit(participant))


def locate(
    participant_id: str, slug: str, session_key: str
) -> tuple[Participant, Whereabouts | None] | None:
    """The browser's participant in the study ``slug``, with where they are when their
    current step's visit has begun: one query for a page of a step already shown (a study's
    page costs no more than a plain one, ``bench study``). None: no such participant here."""
    try:
        visits = list(
            StepVisit.objects.filter(_due_or_current())
            .filter(
                participant_id=participant_id,
                participant__study__slug=slug,
                participant__session_key=session_key,
            )
            .select_related("participant__study", "step")
        )
    except ValidationError:  # not a participant's id
        return None
    if not visits:  # a step not yet shown (or no such participant): read them alone
        found = (
            Participant.objects.select_related("study")
            .filter(pk=participant_id, study__slug=slug, session_key=session_key)
            .first()
        )
        return None if found is None else (found, None)
    participant = visits[0].participant
    for each in visits:
        each.participant = participant
    return participant, _where(participant, visits)


def visit(participant: Participant) -> StepVisit | None:
    """The participant's visit to their current step, begun the first time they see it."""
    step_id = participant.current_step_id
    if step_id is None:
        return None
    found, _ = StepVisit.objects.get_or_create(
        participant=participant, position=participant.position, defaults={"step_id": step_id}
    )
    return found


_TABS = signing.Signer(salt="studies.tab")


def issue_tab() -> str:
    """A token for a page being shown, later than every one issued before it (its time comes
    first) and signed, so a page cannot make one up. Showing a page writes nothing: the page
    claims the study with it as it opens (``claim_tab``), and so does every form it posts."""
    return _TABS.sign(f"{time.time_ns():020d}{secrets.token_hex(4)}")


def claim_tab(participant: Participant, token: str) -> bool:
    """The page holding ``token`` holds the study, unless a page opened later has claimed it
    (a second tab takes over; the first is told when it next asks or acts). One conditional
    update, written only when the holder changes."""
    try:
        value = _TABS.unsign(token)
    except signing.BadSignature:
        return False
    if value == participant.tab:
        return True
    if value < participant.tab:
        return False
    claimed = Participant.objects.filter(pk=participant.pk, tab__lt=value).update(tab=value)
    if claimed:
        participant.tab = value
    return bool(claimed)


def check_tab(participant: Participant, token: str) -> None:
    if not claim_tab(participant, token):
        raise Refusal(
            "Continue in your other tab",
            "This study is open in another tab or window, which has taken over. Please go on "
            "there (or reload this page to continue here).",
        )


def _move_on(participant: Participant, position: int, **fields: Any) -> None:
    """Past the step at ``position``, once: a second request for it changes nothing."""
    now = timezone.now()
    moved = Participant.objects.filter(
        pk=participant.pk, position=position, state__in=ACTIVE
    ).update(position=position + 1, **fields)
    if not moved:
        raise not_on_step()
    StepVisit.objects.filter(
        participant=participant, position=position, finished_at__isnull=True
    ).update(finished_at=now)
    participant.refresh_from_db()


def not_on_step() -> Refusal:
    return Refusal(
        "That step is done",
        "That page is not your current step (it was already answered, or another tab moved "
        "on). Continue from your current step.",
    )


def _check_position(participant: Participant, position: int, kind: str) -> Step:
    if participant.state not in ACTIVE:
        raise Refusal("The study has ended for you", "There is nothing more to do here.")
    step = current_step(participant)
    if step is None or position != participant.position or step.kind != kind:
        raise not_on_step()
    if score_page_due(participant) is not None:
        raise not_on_step()  # a step cannot be answered before the score page shown before it
    return step


def continue_page(participant: Participant, position: int) -> None:
    _check_position(participant, position, Step.Kind.PAGE)
    with transaction.atomic():
        _move_on(participant, position)


def agree(participant: Participant, position: int, ticked: list[bool]) -> None:
    step = _check_position(participant, position, Step.Kind.CONSENT)
    if len(ticked) != len(step.statements) or not all(ticked):
        raise Refusal(
            "Please tick every statement",
            "To take part, tick every statement of the consent form.",
            status=400,
        )
    with transaction.atomic():
        _move_on(
            participant,
            position,
            state=Participant.State.CONSENTED,
            consent_version=step.consent_version,
            consented_at=timezone.now(),
        )


def decline(participant: Participant, position: int) -> None:
    """Ends the study politely; nothing is kept beyond the decline itself (and the id, so the
    same person is not asked again)."""
    _check_position(participant, position, Step.Kind.CONSENT)
    with transaction.atomic():
        declined = Participant.objects.filter(
            pk=participant.pk, position=position, state__in=ACTIVE
        ).update(
            state=Participant.State.DECLINED,
            parameters={},
            ping_ms=None,
            finished_at=timezone.now(),
        )
        if not declined:
            raise not_on_step()
        participant.visits.all().delete()
        participant.answers.all().delete()
        participant.problem_reports.all().delete()
    participant.refresh_from_db()


def answer(participant: Participant, position: int, values: Mapping[int, Any]) -> None:
    """Store a questionnaire's validated answers (question id -> value) and move on."""
    step = _check_position(participant, position, Step.Kind.QUESTIONNAIRE)
    questions = {q.pk: q for q in step.questions.all()}
    if set(values) - set(questions):
        raise Refusal(
            "Unknown question", "The answers name a question not on this step.", status=400
        )
    now = timezone.now()
    with transaction.atomic():
        _move_on(participant, position)
        Answer.objects.bulk_create(
            Answer(participant=participant, question=questions[qid], value=value, answered_at=now)
            for qid, value in values.items()
        )


def complete(participant: Participant) -> str:
    """The completion code, issued once, when every step of the plan is done."""
    due = participant.state in ACTIVE and score_page_due(participant) is not None
    if participant.state not in ACTIVE or not participant.done_walking or due:
        if participant.completion_code:
            raise Refusal(
                "Your code was already issued",
                "Your completion code was issued before; it is shown on your completion page.",
            )
        raise Refusal(
            "Not finished yet",
            "The completion code is given once every step of the study is done.",
            status=403,
        )
    code = secrets.token_hex(6).upper()
    now = timezone.now()
    issued = Participant.objects.filter(
        pk=participant.pk,
        position=len(participant.plan),
        state__in=ACTIVE,
        completion_code__isnull=True,
    ).update(
        completion_code=code,
        code_issued_at=now,
        state=Participant.State.COMPLETED,
        finished_at=now,
    )
    if not issued:
        raise Refusal(
            "Your code was already issued",
            "Your completion code was issued before; it is shown on your completion page.",
        )
    participant.refresh_from_db()
    return code


def redirect_url(participant: Participant) -> str:
    template = participant.study.completion_redirect_url
    if not template or not participant.completion_code:
        return ""
    return (
        template.replace("{code}", quote(participant.completion_code))
        .replace("{participant}", quote(str(participant.pk)))
        .replace("{pid}", quote(participant.external_id))
    )


def withdraw(participant: Participant) -> None:
    """Out of the study: their data leaves the exports now and is deleted after the study's
    retention period (``purge_withdrawn``)."""
    if participant.state == Participant.State.WITHDREW:
        return
    updated = (
        Participant.objects.filter(pk=participant.pk)
        .exclude(state__in=Participant.GONE)
        .update(state=Participant.State.WITHDREW, finished_at=timezone.now())
    )
    if not updated and participant.state == Participant.State.DECLINED:
        raise Refusal("Nothing to withdraw", "You declined consent: no data of yours is kept.")
    participant.refresh_from_db()


def mark_seen(participant: Participant, *, now: Any = None) -> None:
    """The participant's browser asked for something: they are still here. Written at most
    once a minute (an open study page asks every few seconds whether its tab still holds the
    study), as one conditional update."""
    now = now or timezone.now()
    if participant.last_seen_at and now - participant.last_seen_at < SEEN_EVERY:
        return
    Participant.objects.filter(pk=participant.pk, last_seen_at__lt=now - SEEN_EVERY).update(
        last_seen_at=now
    )


def time_out_inactive(*, now: Any = None) -> int:
    """Participants still walking whose browser has not been heard from for their study's
    ``inactive_minutes`` are timed out: their study has ended. One who is playing a game of a
    block is never timed out mid-episode (the watchdog ends a lost episode within a minute,
    and they are timed out after). Returns how many were timed out."""
    now = now or timezone.now()
    timed_out = 0
    studies = Study.objects.filter(inactive_minutes__isnull=False, participants__state__in=ACTIVE)
    for study_id, minutes in studies.values_list("pk", "inactive_minutes").distinct():
        if not minutes:
            continue  # filtered out above; says so to the type checker
        timed_out += (
            Participant.objects.filter(
                study_id=study_id,
                state__in=ACTIVE,
                last_seen_at__lt=now - timedelta(minutes=minutes),
            )
            .exclude(block_episodes__episode__status=Episode.Status.ACTIVE)
            .update(state=Participant.State.TIMED_OUT, finished_at=now)
        )
    return timed_out


def purge_withdrawn(now: Any = None) -> int:
    """Delete what withdrawn participants left, once their study's retention period is over.
    Returns how many participants were purged."""
    now = now or timezone.now()
    purged = 0
    due = Participant.objects.filter(
        state=Participant.State.WITHDREW, finished_at__isnull=False
    ).select_related("study")
    for participant in due:
        ended = participant.finished_at
        if ended is None or ended + timedelta(days=participant.study.retention_days) > now:
            continue
        with transaction.atomic():
            participant.answers.all().delete()
            participant.visits.all().delete()
            participant.problem_reports.all().delete()
            Participant.objects.filter(pk=participant.pk).update(parameters={}, ping_ms=None)
        purged += 1
    return purged


def report_problem(participant: Participant, text: str, *, page: str = "") -> ProblemReport:
    text = text.strip()
    if not text:
        raise Refusal("Say what went wrong", "Describe the problem in a few words.", status=400)
    return ProblemReport.objects.create(
        participant=participant,
        step_id=participant.current_step_id,
        text=text[:REPORT_MAX],
        page=page[:300],
    )


def record_attention(
    participant: Participant, position: int, events: list[list[Any]], hidden: float, blurred: float
) -> None:
    """Focus and visibility changes the page saw on a step (seconds since it opened). What a
    page cannot have measured (negative, not finite, over a day) is refused: ValueError."""
    kept = [
        [_seconds(t), bool(focused), bool(visible)]
        for t, focused, visible in events[:500]
        if isinstance(t, int | float) and not isinstance(t, bool)
    ]
    StepVisit.objects.filter(participant=participant, position=position).update(
        attention=kept, hidden_seconds=_seconds(hidden), blurred_seconds=_seconds(blurred)
    )


def _seconds(value: Any) -> float:
    seconds = float(value)
    if not 0.0 <= seconds <= 86_400.0:  # also false for NaN
        raise ValueError(f"not a page's seconds: {value!r}")
    return seconds


# --- game blocks ------------------------------------------------------------------------------


def account_for(participant: Participant) -> Any:
    """The account a participant's episodes are recorded under: theirs when they came signed
    in, else one made for them (no password, never shown), bound to this participant only."""
    from accounts.models import User

    if participant.user_id is not None:
        return participant.user
    user = User.objects.create_user(f"participant-{participant.pk}@participants.invalid")
    user.set_unusable_password()
    user.save(update_fields=["password"])
    Participant.objects.filter(pk=participant.pk, user__isnull=True).update(user=user)
    participant.refresh_from_db()
    return participant.user


def rebind_session(participant: Participant, session_key: str) -> None:
    """Logging the participant's account in gives the browser a new session key."""
    Participant.objects.filter(pk=participant.pk).update(session_key=session_key)
    participant.session_key = session_key


def _on_blocks_of(people: Any, game: Any) -> list[tuple[Participant, Step]]:
    """The active participants among ``people`` (users) whose current step is a block of
    ``game``, each with that block: what both of play's questions are answered from."""
    walkers = [
        p
        for p in Participant.objects.filter(user__in=[u for u in people if u is not None])
        .filter(state__in=ACTIVE)
        .select_related("study", "condition")
        if p.current_step_id is not None
    ]
    if not walkers:
        return []
    blocks = Step.objects.filter(
        pk__in=[p.current_step_id for p in walkers], kind=Step.Kind.GAME, game=game
    ).in_bulk()
    return [(p, blocks[p.current_step_id]) for p in walkers if p.current_step_id in blocks]


def episode_context(people: Any, game: Any) -> dict[str, Any] | None:
    """``play.contexts`` provider: the episode belongs to a study's game block when a person
    at its seats is a participant whose current step is a block of this game."""
    playing = _on_blocks_of(people, game)
    if not playing:
        return None
    first, step = playing[0]
    together = [p for p, block in playing if block.pk == step.pk]
    return {
        "study": first.study.slug,
        "study_version": first.study_version,
        "step": step.pk,
        "block": step.title,
        "participants": [str(p.pk) for p in together],
        "positions": [p.position for p in together],
        "conditions": [p.condition.name if p.condition else "" for p in together],
    }


def waiting_room(user: Any, game: Any) -> str | None:
    """``play.contexts`` waiting-room provider: a participant whose current step is a block of
    this game waits for a seat in the block's own waiting room, where they meet only the
    block's other participants (never a visitor of the public game, nor another study's or
    version's participant)."""
    if user is None or not user.is_authenticated:
        return None
    playing = _on_blocks_of([user], game)
    return f"study-block-{playing[0][1].pk}" if playing else None


def link_block_episode(episode: Any) -> None:
    """Called when an episode is created: its study context becomes the block's links."""
    context = episode.context or {}
    if "study" not in context or "step" not in context:
        return
    BlockEpisode.objects.bulk_create(
        [
            BlockEpisode(
                participant_id=participant,
                step_id=context["step"],
                position=position,
                episode=episode,
            )
            for participant, position in zip(
                context.get("participants", []), context.get("positions", []), strict=False
            )
        ],
        ignore_conflicts=True,
    )


@dataclass(frozen=True, slots=True)
class Progress:
    episodes: int  # ended, with at least one step
    minutes: float  # of active play (steps / the game's rate), the running episode's too
    score: float  # the participant's returns added up over the block's ended episodes
    best: float | None  # their best ended episode's return
    bonus: float
    done: bool  # every requirement the block sets is met
    time_up: bool  # its time limit has passed
    requirement: str  # in words

    def as_json(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "minutes": round(self.minutes, 2),
            "score": self.score,
            "best": self.best,
            "bonus": round(self.bonus, 2),
            "done": self.done,
            "time_up": self.time_up,
            "can_continue": self.done or self.time_up,
            "requirement": self.requirement,
        }


def block_progress(
    participant: Participant, step: Step, *, now: Any = None, visit: StepVisit | None = None
) -> Progress:
    """Where the participant stands in a block: two queries at most (their episodes, and their
    visit's start when the block has a time limit and ``visit`` is not given)."""
    now = now or timezone.now()
    games = scores.played(participant, step)
    fps = step.game.fps if step.game else 60
    returns = [g.own for g in games if g.counts]  # one a game ended
    steps = sum(g.steps for g in games)
    minutes = steps / fps / 60
    score = sum(returns)
    best = max(returns) if returns else None
    wanted: list[str] = []
    met = True
    if step.episodes:
        wanted.append(f"{step.episodes} games")
        met = met and len(returns) >= step.episodes
    if step.min_active_minutes:
        wanted.append(f"{step.min_active_minutes:g} minutes of play")
        met = met and minutes >= step.min_active_minutes
    if step.min_score is not None:
        wanted.append(f"a score of {step.min_score:g} in one game")
        met = met and best is not None and best >= step.min_score
    if step.time_limit_minutes and visit is None:
        visit = StepVisit.objects.filter(participant=participant, step=step).first()
    time_up = bool(
        step.time_limit_minutes
        and visit is not None
        and (now - visit.started_at).total_seconds() >= step.time_limit_minutes * 60
    )
    bonus = 0.0
    if step.bonus_per_point:
        bonus += float(step.bonus_per_point) * max(score, 0.0)
    if step.bonus_per_minute:
        bonus += float(step.bonus_per_minute) * minutes
    if step.bonus_cap is not None:
        bonus = min(bonus, float(step.bonus_cap))
    return Progress(
        episodes=len(returns), minutes=minutes, score=score, best=best, bonus=bonus,
        done=met and bool(wanted), time_up=time_up, requirement=" and ".join(wanted),
    )  # fmt: skip


def finish_block(participant: Participant, position: int) -> None:
    step = _check_position(participant, position, Step.Kind.GAME)
    progress = block_progress(participant, step)
    if not (progress.done or progress.time_up):
        raise Refusal(
            "Keep playing",
            f"This part is done after {progress.requirement}. Keep playing, then continue.",
            status=403,
        )
    with transaction.atomic():
        _move_on(participant, position)
        if step.show_score_page:
            others = scores.block_scores(step, leaving_out=participant)
            told = ScoreFigures(
                score=progress.score,
                better_than=scores.better_than(progress.score, others),
                others=len(others),
            )
            StepVisit.objects.filter(participant=participant, position=position).update(
                score_page=told.as_json()
            )


# --- the score page after a block -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreFigures:
    """What a block's score page tells the participant, fixed when they finish the block."""

    score: float  # theirs, as the block's panel added it up (``block_progress``)
    better_than: int | None  # the percentage of the others who finished it before them
    others: int

    def as_json(self) -> dict[str, Any]:
        return {"score": self.score, "better_than": self.better_than, "others": self.others}


@dataclass(frozen=True, slots=True)
class ScorePage:
    step: Step  # the block
    position: int  # its place in the participant's plan
    told: ScoreFigures
    scores: list[float]  # of everyone who finished the block, theirs too, for the histogram


def score_page_due(participant: Participant) -> StepVisit | None:
    """The block visit whose score page the participant has not yet continued from."""
    return (
        participant.visits.filter(score_page__isnull=False, score_seen_at__isnull=True)
        .select_related("step")
        .first()
    )


def score_page(visit: StepVisit) -> ScorePage:
    told = visit.score_page or {}
    return ScorePage(
        step=visit.step,
        position=visit.position,
        told=ScoreFigures(
            score=float(told.get("score", 0.0)),
            better_than=told.get("better_than"),
            others=int(told.get("others", 0)),
        ),
        scores=scores.block_scores(visit.step),
    )


def leave_score_page(participant: Participant, position: int) -> None:
    """Continue from the score page of the block at ``position``: once (a replayed Continue or
    a stale tab changes nothing)."""
    if participant.state not in ACTIVE:
        raise Refusal("The study has ended for you", "There is nothing more to do here.")
    left = StepVisit.objects.filter(
        participant=participant,
        position=position,
        score_page__isnull=False,
        score_seen_at__isnull=True,
    ).update(score_seen_at=timezone.now())
    if not left:
        raise not_on_step()


# --- the connection gate ----------------------------------------------------------------------

GATE_SAMPLES = 10


def needs_gate(participant: Participant, step: Step) -> bool:
    """Before the first game block, a study with a round-trip limit measures the connection."""
    return (
        step.kind == Step.Kind.GAME
        and participant.study.max_ping_ms is not None
        and participant.ping_ms is None
    )


def pass_gate(participant: Participant, position: int, samples: list[float]) -> bool:
    """Store the median of the round trips the page measured; over the study's limit, the
    participant is turned away (a conditional update: once). Returns whether they passed."""
    step = _check_position(participant, position, Step.Kind.GAME)
    if not needs_gate(participant, step):
        raise not_on_step()
    measured = sorted(float(s) for s in samples if 0 <= float(s) < 60_000)[: GATE_SAMPLES * 2]
    if len(measured) < GATE_SAMPLES // 2:
        raise Refusal(
            "The connection test did not finish",
            "Reload the page to measure your connection again.",
            status=400,
        )
    median = measured[len(measured) // 2]
    limit = participant.study.max_ping_ms or 0
    passed = median <= limit
    fields: dict[str, Any] = {"ping_ms": median}
    if not passed:
        fields |= {"state": Participant.State.REFUSED, "finished_at": timezone.now()}
    updated = Participant.objects.filter(
        pk=participant.pk, position=position, state__in=ACTIVE, ping_ms__isnull=True
    ).update(**fields)
    if not updated:
        raise not_on_step()
    participant.refresh_from_db()
    return passed
