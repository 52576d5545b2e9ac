"""A Flask sign-up form protected by user.cleaning (WTForms validator). See README.md."""
import os
import sys

from flask import Flask, render_template_string, request
from wtforms import Form, StringField
from wtforms.validators import DataRequired

try:
    from user_cleaning.flask import NotDisposable
except ImportError:  # straight from this repository
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "src"))
    from user_cleaning.flask import NotDisposable

app = Flask(__name__)
app.config.update(
    USER_CLEANING_API_URL=os.environ.get("USER_CLEANING_API_URL", "http://127.0.0.1:8080"),
    USER_CLEANING_API_KEY=os.environ.get("USER_CLEANING_API_KEY", ""),  # the active key
    USER_CLEANING_TIMEOUT=2.0,
)


class SignupForm(Form):
    name = StringField("Name", validators=[DataRequired()])
    email = StringField("Email", validators=[DataRequired(), NotDisposable()])


PAGE = """<!doctype html><title>Sign up</title><h1>{{ title }}</h1>
{% for e in form.email.errors %}<p class="error">{{ e }}</p>{% endfor %}
<form method="post">{{ form.name.label }} {{ form.name() }} {{ form.email.label }} {{ form.email() }}
<button>Create account</button></form>"""


@app.route("/", methods=["GET", "POST"])
def signup():
    form = SignupForm(request.form)
    if request.method == "POST" and form.validate():
        check = form.email.email_check
        if check is not None and check.is_grey:  # a relay or +tag: confirm by email first
            return render_template_string("<h1>One more step</h1><p>Confirm {{ e }}.</p>",
                                          e=form.email.data)
        return render_template_string("<h1>Welcome, {{ n }}!</h1>", n=form.name.data)
    status = 400 if request.method == "POST" else 200
    return render_template_string(PAGE, form=form, title="Sign up"), status


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
