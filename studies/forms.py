"""The participant's forms: a questionnaire built from its questions, and consent."""

from __future__ import annotations

from typing import Any

from django import forms

from .markdown import render_inline
from .models import Question, Step


def _field(question: Question) -> forms.Field:
    label = render_inline(question.text)
    required = question.required
    kind = question.kind
    if kind == Question.Kind.SINGLE:
        return forms.ChoiceField(
            label=label,
            required=required,
            choices=[(option, option) for option in question.options],
            widget=forms.RadioSelect,
        )
    if kind == Question.Kind.MULTIPLE:
        return forms.MultipleChoiceField(
            label=label,
            required=required,
            choices=[(option, option) for option in question.options],
            widget=forms.CheckboxSelectMultiple,
        )
    if kind == Question.Kind.LIKERT:
        return forms.TypedChoiceField(
            label=label,
            required=required,
            coerce=int,
            empty_value=None,
            choices=[(point, text) for point, text in enumerate(question.options, start=1)],
            widget=forms.RadioSelect(attrs={"class": "likert"}),
        )
    if kind == Question.Kind.NUMBER:
        return forms.FloatField(
            label=label,
            required=required,
            min_value=question.min_value,
            max_value=question.max_value,
        )
    return forms.CharField(
        label=label,
        required=required,
        max_length=question.max_length,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4}) if kind == Question.Kind.LONG else None,
    )


class QuestionnaireForm(forms.Form):
    """One field a question (``q<id>``); ``answers`` gives question id -> value, answered
    ones only (an optional question left blank stores nothing)."""

    def __init__(self, step: Step, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.questions = list(step.questions.all())
        for question in self.questions:
            self.fields[f"q{question.pk}"] = _field(question)

    def answers(self) -> dict[int, Any]:
        values: dict[int, Any] = {}
        for question in self.questions:
            value = self.cleaned_data.get(f"q{question.pk}")
            if value in (None, "", []):
                continue
            values[question.pk] = value
        return values


class ConsentForm(forms.Form):
    def __init__(self, step: Step, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for index, statement in enumerate(step.statements):
            self.fields[f"agree{index}"] = forms.BooleanField(
                label=render_inline(statement), required=False
            )

    def ticked(self) -> list[bool]:
        return [bool(self.cleaned_data.get(name)) for name in self.fields]
