"""The admin's export form: whose play of the selected episodes to export."""

from __future__ import annotations

from typing import Any

from django import forms

from .players import WORDS, NotAFilter, PlayedBy

LABELS = {
    "humans": "People (in the browser)",
    "agents": "Programs (the agent API)",
    "policies": "AI policies",
}
CHOICES = [(word, LABELS[word]) for word in WORDS]  # the filter's words, in its order


class ExportForm(forms.Form):
    """Checked kinds and named agents narrow the selection as ``export_dataset``'s
    ``--played-by`` and ``--agent`` narrow its query (``exports.players``)."""

    played_by = forms.MultipleChoiceField(
        choices=CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Played by",
        help_text="Only episodes every seat of which was held by these, for the whole episode "
        "(vacant seats aside): People alone is pure human play; People and Programs adds "
        "people against programs. None checked: everyone.",
    )
    agents = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        required=False,
        label="Agents",
        help_text="Only episodes with a seat held by one of these programs, one a line: its "
        "name (agent_name) for every version, or NAME@VERSION for one. Empty: any.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            cleaned["who"] = PlayedBy.parse(
                kinds=cleaned.get("played_by") or [],
                agents=(cleaned.get("agents") or "").splitlines(),
            )
        except NotAFilter as exc:
            raise forms.ValidationError(str(exc)) from None
        return cleaned
