"""A study's steps as a readable outline (the admin's), and a study's duplicate."""

from __future__ import annotations

from django.db import transaction
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .models import Condition, Step, Study


def _describe(step: Step) -> str:
    kind = step.get_kind_display().split(" (")[0]
    extra = ""
    if step.kind == Step.Kind.QUESTIONNAIRE:
        extra = f", {step.questions.count()} questions"
    elif step.kind == Step.Kind.CONSENT:
        extra = f", version {step.consent_version or '?'}"
    elif step.kind == Step.Kind.GAME and step.game is not None:
        done = []
        if step.episodes:
            done.append(f"{step.episodes} episodes")
        if step.min_active_minutes:
            done.append(f"{step.min_active_minutes:g} min of play")
        if step.min_score is not None:
            done.append(f"score {step.min_score:g}")
        extra = f", {step.game.title}, {step.get_seating_display().lower()}; done after " + (
            " and ".join(done) or "?"
        )
    elif step.kind == Step.Kind.RANDOM:
        extra = ", random order" + (f", {step.pick} of them" if step.pick else "")
    return f"{kind}: {step.title}{extra}"


def html(study: Study) -> SafeString:
    steps = list(study.current_steps().select_related("game", "condition"))
    children: dict[int | None, list[Step]] = {}
    for step in steps:
        children.setdefault(step.parent_id, []).append(step)

    def items(parent: int | None, depth: int) -> SafeString:
        if depth > 10:
            return SafeString("")
        rows = []
        for step in children.get(parent, []):
            label = _describe(step)
            if step.condition is not None:
                label = f"[{step.condition.name}] {label}"
            rows.append((label, items(step.pk, depth + 1)))
        if not rows:
            return SafeString("")
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}{}</li>", rows))

    return items(None, 0) or SafeString("No steps yet.")


def duplicate(study: Study) -> Study:
    """A new draft with the same settings, conditions and current steps (and questions)."""
    with transaction.atomic():
        base = f"{study.slug}-copy"
        slug, n = base, 2
        while Study.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        conditions = list(study.conditions.all())
        steps = list(study.current_steps().prefetch_related("questions"))
        copy = Study.objects.get(pk=study.pk)
        copy.pk = None
        copy.slug = slug
        copy.title = f"{study.title} (copy)"
        copy.status = Study.Status.DRAFT
        copy.version = 1
        copy.save()
        new_condition: dict[int, Condition] = {}
        for condition in conditions:
            old_pk = condition.pk
            condition.pk = None
            condition.study = copy
            condition.save()
            new_condition[old_pk] = condition
        new_step: dict[int, Step] = {}
        # Parents before children: a step's parent is copied before it is.
        pending = list(steps)
        while pending:
            ready = [s for s in pending if s.parent_id is None or s.parent_id in new_step]
            if not ready:
                break  # a parent outside the current steps: leave the rest out
            for step in ready:
                pending.remove(step)
                old_pk = step.pk
                questions = list(step.questions.all())
                step.pk = None
                step.study = copy
                step.replaces = None
                step.parent = new_step.get(step.parent_id) if step.parent_id else None
                step.condition = new_condition.get(step.condition_id) if step.condition_id else None
                step.save()
                new_step[old_pk] = step
                for question in questions:
                    question.pk = None
                    question.step = step
                    question.save()
        return copy
