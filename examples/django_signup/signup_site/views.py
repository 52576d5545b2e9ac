from django.shortcuts import render

from .forms import SignupForm


def signup(request):
    if request.method != "POST":
        return render(request, "signup.html", {"form": SignupForm()})
    form = SignupForm(request.POST, request=request)
    if not form.is_valid():
        return render(request, "signup.html", {"form": form}, status=400)
    check = form.email_check
    if check is not None and check.is_grey:  # a relay or a +tag: confirm by email first
        return render(request, "verify.html", {"form": form, "check": check})
    return render(request, "welcome.html", {"form": form, "check": check})
