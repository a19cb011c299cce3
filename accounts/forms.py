from django.contrib.auth.forms import BaseUserCreationForm
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
