"""Logging in: the email in any letter case, and wrong passwords throttled per account and per
address (django-axes) without locking the right person out for long."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def log_in(email: str, password: str, *, address: str = "10.0.0.1", url: str = "") -> Any:
    return Client(REMOTE_ADDR=address).post(
        url or reverse("accounts:login"), {"username": email, "password": password}
    )


def signed_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def fail(times: int, email: str, *, address: str = "10.0.0.1") -> None:
    for attempt in range(1, times + 1):
        response = log_in(email, "not-the-password", address=address)
        # The form again with its error; the attempt that reaches the limit is refused.
        limit = attempt == settings.AXES_FAILURE_LIMIT
        assert response.status_code == (429 if limit else 200)


def test_it_logs_in_with_the_email_in_any_letter_case(alice: Any) -> None:
    assert signed_in(log_in("Alice@Example.ORG", "alice-password-1"))
    assert signed_in(log_in("  ALICE@example.org ", "alice-password-1"))


def test_the_admin_login_takes_the_email_in_any_letter_case(db: Any) -> None:
    from accounts.models import User

    User.objects.create_superuser("root@example.org", "root-password-1")
    response = log_in("Root@Example.org", "root-password-1", url=reverse("admin:login"))
    assert signed_in(response)


def test_it_refuses_an_account_after_repeated_wrong_passwords_with_a_clear_message(
    alice: Any,
) -> None:
    fail(settings.AXES_FAILURE_LIMIT, "alice@example.org")
    # Even the right password, and even from another address: someone is guessing at Alice.
    refused = log_in("alice@example.org", "alice-password-1", address="10.9.9.9")
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed log-ins" in page and "paused for 10 minutes" in page
    assert not signed_in(refused)


def test_it_counts_the_account_whatever_letter_case_the_guesses_use(alice: Any) -> None:
    for index in range(settings.AXES_FAILURE_LIMIT):
        log_in("alice@example.org".upper() if index % 2 else "alice@example.org", "wrong")
    assert log_in("alice@example.org", "alice-password-1", address="10.9.9.9").status_code == 429


def test_it_refuses_an_address_that_guesses_at_many_accounts(alice: Any, bob: Any) -> None:
    for index in range(settings.AXES_FAILURE_LIMIT):
        log_in(f"nobody-{index}@example.org", "not-the-password", address="10.6.6.6")
    assert log_in("bob@example.org", "bob-password-1", address="10.6.6.6").status_code == 429
    assert signed_in(log_in("bob@example.org", "bob-password-1", address="10.7.7.7"))


def test_it_lets_the_right_person_in_after_the_cool_off(alice: Any) -> None:
    fail(settings.AXES_FAILURE_LIMIT, "alice@example.org")
    assert log_in("alice@example.org", "alice-password-1").status_code == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    assert signed_in(log_in("alice@example.org", "alice-password-1"))


def test_a_right_password_clears_the_count_before_the_limit(alice: Any) -> None:
    fail(settings.AXES_FAILURE_LIMIT - 1, "alice@example.org")
    assert signed_in(log_in("alice@example.org", "alice-password-1"))
    fail(settings.AXES_FAILURE_LIMIT - 1, "alice@example.org")
    assert signed_in(log_in("alice@example.org", "alice-password-1"))


def test_it_takes_the_address_the_proxy_saw_behind_a_proxy(settings: Any, alice: Any) -> None:
    settings.PROXY_COUNT = 1
    for index in range(settings.AXES_FAILURE_LIMIT):
        # The client forges the first entry each time; the proxy appends the real one.
        Client(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR=f"1.2.3.{index}, 10.6.6.6").post(
            reverse("accounts:login"), {"username": f"x{index}@example.org", "password": "x"}
        )
    blocked = Client(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="9.9.9.9, 10.6.6.6")
    response = blocked.post(
        reverse("accounts:login"), {"username": "alice@example.org", "password": "alice-password-1"}
    )
    assert response.status_code == 429
