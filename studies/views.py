"""A participant's pages: thin over ``studies.services``, which decides and refuses.

The participant is bound to the browser session (``request.session["studies"]``: study slug ->
participant id); every state change is a POST naming the step position it was made on and
the tab that made it, so a stale page or a second tab is refused instead of acting twice.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .forms import ConsentForm, QuestionnaireForm
from .markdown import render as markdown
from .models import Participant, Step, Study
from .services import Refusal

SESSION = "studies"


def _bound(request: HttpRequest, slug: str) -> Participant | None:
    """The participant this browser is in the study as (read with their study, one query)."""
    participant, _ = _located(request, slug)
    return participant


def _located(
    request: HttpRequest, slug: str
) -> tuple[Participant | None, services.Whereabouts | None]:
    """The participant, and where they are when it came in the same query (``locate``)."""
    participant_id = request.session.get(SESSION, {}).get(slug)
    if not participant_id:
        return None, None
    found = services.locate(str(participant_id), slug, request.session.session_key or "")
    if found is None:
        return None, None
    participant, where = found
    # Every request of their browser is a sign of life (the time-out counts from the last).
    services.mark_seen(participant)
    return participant, where


def _study(request: HttpRequest, slug: str) -> tuple[Study, Participant | None]:
    participant = _bound(request, slug)
    if participant is not None:
        return participant.study, participant
    return get_object_or_404(Study, slug=slug), None


def _refused(
    request: HttpRequest, study: Study | None, refusal: Refusal, participant: Participant | None
) -> HttpResponse:
    return render(
        request,
        "studies/refused.html",
        {"study": study, "refusal": refusal, "participant": participant},
        status=refusal.status,
    )


def _sign_in(request: HttpRequest, participant: Participant) -> None:
    """The browser plays under the participant's account (their own, or one made for them):
    the game's socket knows who is playing from the session, as for anyone."""
    account = services.account_for(participant)
    if request.user.pk != account.pk:
        login(request, account, backend="django.contrib.auth.backends.ModelBackend")
        services.rebind_session(participant, request.session.session_key or "")


def _need(participant: Participant | None) -> Participant:
    if participant is None:
        raise Refusal(
            "Open the study from its link",
            "This browser has not entered the study. Open the link you were given to start.",
            status=403,
        )
    return participant


@require_GET
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    if not request.session.session_key:
        request.session.save()
    study, returning = _study(request, slug)
    session_key = request.session.session_key or ""
    try:
        participant = services.enter(
            study, request.GET, session_key=session_key, user=request.user, returning=returning
        )
    except Refusal as refusal:
        return _refused(request, study, refusal, returning)
    _sign_in(request, participant)
    bound = dict(request.session.get(SESSION, {}))
    bound[study.slug] = str(participant.pk)
    request.session[SESSION] = bound
    return redirect("studies:step", slug=study.slug)


@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, slug: str) -> HttpResponse:
    bound, where = _located(request, slug)
    study = bound.study if bound is not None else get_object_or_404(Study, slug=slug)
    try:
        participant = _need(bound)
        if participant.state == Participant.State.COMPLETED:
            return redirect("studies:done", slug=slug)
        if participant.state not in services.ACTIVE:
            raise Refusal(
                "The study has ended for you",
                f"You {participant.get_state_display().lower()}: there is nothing more to do "
                "here. Thank you.",
                status=200,
            )
        if request.method == "POST":
            return _act(request, study, participant)
        return _show(request, study, participant, where=where)
    except Refusal as refusal:
        return _refused(request, study, refusal, bound)


def _show(
    request: HttpRequest,
    study: Study,
    participant: Participant,
    form: Any = None,
    status: int = 200,
    where: services.Whereabouts | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {
        "study": study,
        "participant": participant,
        "position": participant.position,
        "steps_total": len(participant.plan),
    }
    where = where or services.whereabouts(participant)
    context["tab"] = services.issue_tab()
    if where.score_page is not None:  # between a block and the next step, once
        shown = services.score_page(where.score_page)
        context |= {"page": shown, "position": shown.position, "no_attention": True}
        return render(request, "studies/score.html", context)
    current = where.step
    if current is None:
        return render(request, "studies/finish.html", context)
    context |= {"step": current, "body": markdown(current.body)}
    if current.kind == Step.Kind.CONSENT:
        context["form"] = form or ConsentForm(current)
    elif current.kind == Step.Kind.QUESTIONNAIRE:
        context["form"] = form or QuestionnaireForm(current)
    elif current.kind == Step.Kind.GAME and services.needs_gate(participant, current):
        context["gate_samples"] = services.GATE_SAMPLES
        context["ping_url"] = reverse("studies:ping", args=[study.slug])
        return render(request, "studies/gate.html", context, status=status)
    elif current.kind == Step.Kind.GAME:
        game = current.game
        assert game is not None  # a game block names its game (Step.clean)
        multi = game.is_multi_seat
        context |= {
            "game": game,
            "mode": "match" if multi else "play",
            "ws_path": f"/ws/{'match' if multi else 'play'}/{game.slug}/",
            "autostart": current.countdown_seconds or 1,
            "progress": services.block_progress(participant, current, visit=where.visit).as_json(),
        }
    return render(request, f"studies/step_{current.kind}.html", context, status=status)


def _act(request: HttpRequest, study: Study, participant: Participant) -> HttpResponse:
    services.check_tab(participant, request.POST.get("tab", ""))
    try:
        position = int(request.POST.get("position", ""))
    except ValueError:
        raise Refusal(
            "That request was incomplete",
            "The page sent no step with its answer. Reload the page and try again.",
            status=400,
        ) from None
    if "score_page" in request.POST:
        services.leave_score_page(participant, position)
        return redirect("studies:step", slug=study.slug)
    current = services.current_step(participant)
    if current is None or position != participant.position:
        raise services.not_on_step()
    if current.kind == Step.Kind.PAGE:
        services.continue_page(participant, position)
    elif current.kind == Step.Kind.CONSENT:
        if "decline" in request.POST:
            services.decline(participant, position)
            return render(request, "studies/declined.html", {"study": study})
        consent = ConsentForm(current, request.POST)
        consent.is_valid()
        if not all(consent.ticked()):
            consent.add_error(None, "To take part, tick every statement (or decline below).")
            return _show(request, study, participant, consent, status=400)
        services.agree(participant, position, consent.ticked())
    elif current.kind == Step.Kind.GAME and "rtts" in request.POST:
        try:
            samples = [float(x) for x in request.POST["rtts"].split(",")[:100] if x.strip()]
        except ValueError:
            raise Refusal(
                "The connection test did not finish", "Reload the page.", status=400
            ) from None
        if not services.pass_gate(participant, position, samples):
            limit = study.max_ping_ms
            raise Refusal(
                "Your connection is too slow for this study",
                f"The games need answers from our server within {limit} ms, and your connection "
                f"took {participant.ping_ms:.0f} ms (the median of {len(samples)} tries). Thank "
                "you for your interest; you may close this page.",
                status=200,
            )
    elif current.kind == Step.Kind.GAME:
        services.finish_block(participant, position)
    elif current.kind == Step.Kind.QUESTIONNAIRE:
        questionnaire = QuestionnaireForm(current, request.POST)
        if not questionnaire.is_valid():
            return _show(request, study, participant, questionnaire, status=400)
        services.answer(participant, position, questionnaire.answers())
    else:
        raise services.not_on_step()
    return redirect("studies:step", slug=study.slug)


@require_POST
def complete(request: HttpRequest, slug: str) -> HttpResponse:
    study, bound = _study(request, slug)
    try:
        participant = _need(bound)
        services.check_tab(participant, request.POST.get("tab", ""))
        services.complete(participant)
    except Refusal as refusal:
        return _refused(request, study, refusal, bound)
    return redirect("studies:done", slug=slug)


@require_GET
def done(request: HttpRequest, slug: str) -> HttpResponse:
    study, bound = _study(request, slug)
    try:
        participant = _need(bound)
    except Refusal as refusal:
        return _refused(request, study, refusal, bound)
    if not participant.completion_code:
        return redirect("studies:step", slug=slug)
    return render(
        request,
        "studies/done.html",
        {
            "study": study,
            "participant": participant,
            "redirect_url": services.redirect_url(participant),
        },
    )


@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, slug: str) -> HttpResponse:
    study, bound = _study(request, slug)
    try:
        participant = _need(bound)
        if request.method == "POST":
            services.withdraw(participant)
            return render(request, "studies/withdrawn.html", {"study": study})
    except Refusal as refusal:
        return _refused(request, study, refusal, bound)
    return render(request, "studies/withdraw.html", {"study": study, "participant": participant})


@require_POST
def report(request: HttpRequest, slug: str) -> HttpResponse:
    study, bound = _study(request, slug)
    try:
        participant = _need(bound)
        services.report_problem(
            participant, request.POST.get("text", ""), page=request.POST.get("page", "")
        )
    except Refusal as refusal:
        if request.headers.get("Accept") == "application/json":
            return JsonResponse({"error": refusal.message}, status=refusal.status)
        return _refused(request, study, refusal, bound)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"ok": True})
    return render(
        request,
        "studies/reported.html",
        {"study": study, "back": reverse("studies:step", args=[slug])},
    )


@require_GET
def ping(request: HttpRequest, slug: str) -> HttpResponse:
    """A round trip for the connection gate: nothing to compute, nothing to send."""
    return HttpResponse(status=204, headers={"Cache-Control": "no-store"})


@require_GET
def progress(request: HttpRequest, slug: str) -> JsonResponse:
    """The live panel of a game block: games, minutes, score, bonus, and whether it is done."""
    participant = _bound(request, slug)
    current = services.current_step(participant) if participant is not None else None
    if participant is None or current is None or current.kind != Step.Kind.GAME:
        return JsonResponse({"error": "not in a game block"}, status=409)
    return JsonResponse(services.block_progress(participant, current).as_json())


@require_POST
def tab(request: HttpRequest, slug: str) -> JsonResponse:
    """A page claims the study as it opens, then asks every few seconds whether it still
    holds it (a page opened later in another tab takes it over)."""
    participant = _bound(request, slug)
    current = participant is not None and services.claim_tab(participant, request.POST.get("t", ""))
    return JsonResponse({"current": current})


@require_POST
def attention(request: HttpRequest, slug: str) -> JsonResponse:
    """Focus and visibility changes of the page of one step (sent as the page closes)."""
    participant = _bound(request, slug)
    if participant is None:
        return JsonResponse({"error": "not in this study"}, status=403)
    try:
        data = json.loads(request.body[:65536] or b"{}")
        services.record_attention(
            participant,
            int(data["position"]),
            list(data.get("events", [])),
            float(data.get("hidden", 0)),
            float(data.get("blurred", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "malformed attention report"}, status=400)
    return JsonResponse({"ok": True})
