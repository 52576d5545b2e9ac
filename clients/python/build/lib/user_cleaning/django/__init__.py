"""Django integration: add "user_cleaning.django" to INSTALLED_APPS.

    from user_cleaning.django.forms import EmailCheckMixin
    class SignupForm(EmailCheckMixin, forms.Form): ...
    form = SignupForm(request.POST, request=request)
"""
