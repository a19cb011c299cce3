from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm
from django.core.exceptions import ValidationError

from .models import User


class SignupForm(BaseUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].lower()
        if User.objects.filter(email=email).exists():
            raise ValidationError("An account with this email exists; log in instead.")
        return email


class LoginForm(AuthenticationForm):
    """Sign-up stores emails lowercased; a participant typing capitals logs in all the same."""

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login, with the same letter-case rule as the players'."""

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()
