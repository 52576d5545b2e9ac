from django import forms

from user_cleaning.django.forms import EmailCheckMixin


class SignupForm(EmailCheckMixin, forms.Form):
    name = forms.CharField(max_length=100)
    email = forms.EmailField()
