"""Bonuses: what completed participants earned in the game blocks, as the file Prolific's or
MTurk's bulk bonus payment takes; downloaded in the admin only by staff who may see
recruitment ids."""

from __future__ import annotations

import csv
import io
import os
import stat
import zipfile
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from recording.models import Episode
from studies.bonuses import bonus_sheet, participant_bonus
from studies.scope import participant_pseudonym
from studies.tests.cast import MAX, PAT, Walked

pytestmark = pytest.mark.django_db


def test_a_participants_bonus_is_each_blocks_capped_bonus_to_the_cent_added_up(
    walked: Walked,
) -> None:
    # Pat: 3 points at 0.50 in her block, and half a minute at 0.60 in the second.
    assert participant_bonus(walked.pat.participant) == Decimal("1.80")
    # Max: 5 points at 0.50 capped at 2.00, and a minute at 0.60.
    assert participant_bonus(walked.max.participant) == Decimal("2.60")


def test_the_prolific_file_is_one_pid_and_amount_a_line_for_completed_participants(
    walked: Walked,
) -> None:
    sheet = bonus_sheet(walked.study, "prolific")
    assert sheet.text == f"{PAT['PROLIFIC_PID']},1.80\n"  # Wendy withdrew before completing
    assert (sheet.paid, sheet.total) == (1, Decimal("1.80"))
    left = "\n".join(sheet.left_out)
    assert f"{participant_pseudonym(walked.max.participant.pk)} (2.60): came by MTurk" in left
    assert f"{participant_pseudonym(walked.lee.participant.pk)} (0.60): came by Link" in left


def test_the_mturk_file_has_worker_assignment_amount_reason_and_a_token(walked: Walked) -> None:
    sheet = bonus_sheet(walked.study, "mturk", reason="Thanks for playing!")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert rows == [
        {
            "WorkerId": MAX["workerId"],
            "AssignmentId": MAX["assignmentId"],
            "BonusAmount": "2.60",
            "Reason": "Thanks for playing!",
            "UniqueRequestToken": f"arcade-bonus-{walked.max.participant.pk.hex}",
        }
    ]
    default = bonus_sheet(walked.study, "mturk").text
    assert ",Your bonus for the game blocks of Reflexes.," in default


def test_a_participant_without_a_bonus_is_not_paid(walked: Walked) -> None:
    Episode.objects.filter(user=walked.pat.participant.user).update(total_return=0, steps=1)
    assert participant_bonus(walked.pat.participant) == Decimal("0.00")
    assert bonus_sheet(walked.study, "prolific").text == ""


def test_the_command_writes_the_file_for_its_owner_only(walked: Walked, tmp_path: Path) -> None:
    path = tmp_path / "bonuses.csv"
    path.write_text("old")
    os.chmod(path, 0o644)
    out = StringIO()
    call_command(
        "study_bonuses", "reflexes", "--platform", "prolific", "--output", str(path), stdout=out
    )
    assert path.read_text() == f"{PAT['PROLIFIC_PID']},1.80\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "1 bonuses, 1.80 in all, for prolific." in out.getvalue()
    assert "left out" in out.getvalue()


# --- the admin -----------------------------------------------------------------------------------


def helper(name: str, *codenames: str) -> Client:
    """Staff with only these permissions of the studies app."""
    user = User.objects.create_user(f"{name}@example.org", f"{name}-password-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, walked: Walked, action: str) -> Any:
    return client.post(
        "/admin/studies/study/", {"action": action, "_selected_action": [walked.study.pk]}
    )


def test_staff_who_may_see_recruitment_ids_download_the_bonus_csv(walked: Walked) -> None:
    client = helper("rita", "view_study", "view_participant", "view_recruitment_ids")
    response = act(client, walked, "bonus_csv_prolific")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="reflexes-bonuses-prolific.csv"' in response["Content-Disposition"]
    assert response.content.decode() == f"{PAT['PROLIFIC_PID']},1.80\n"
    mturk = act(client, walked, "bonus_csv_mturk").content.decode()
    assert mturk.startswith("WorkerId,AssignmentId,BonusAmount,Reason,UniqueRequestToken\n")


def test_other_staff_neither_see_nor_run_the_bonus_actions(walked: Walked) -> None:
    client = helper("dan", "view_study", "view_participant")
    listing = client.get("/admin/studies/study/").content.decode()
    assert "Export answers (zip)" in listing and "bonus CSV" not in listing
    refused = act(client, walked, "bonus_csv_prolific")
    assert refused.status_code == 302  # back to the list: "No action selected."
    assert PAT["PROLIFIC_PID"].encode() not in refused.content


def test_the_answers_zip_holds_the_study_files_without_raw_ids(walked: Walked) -> None:
    response = act(helper("dan", "view_study", "view_participant"), walked, "export_answers")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {"reflexes/README.md", "reflexes/answers.parquet", "reflexes/answers.csv"} <= names
    assert len(names) == 11
    for name in names:
        assert PAT["PROLIFIC_PID"].encode() not in archive.read(name)
    nobody = act(helper("vic", "view_study"), walked, "export_answers")
    assert nobody.status_code == 302
