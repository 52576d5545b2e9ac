"""A FastAPI sign-up endpoint protected by user.cleaning (a dependency). See README.md."""
import os
import sys

from fastapi import Depends, FastAPI
from pydantic import BaseModel

try:
    from user_cleaning.fastapi import EmailChecker, email_checker
except ImportError:  # straight from this repository
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "src"))
    from user_cleaning.fastapi import EmailChecker, email_checker

app = FastAPI()


class Signup(BaseModel):
    name: str
    email: str


@app.post("/signup")
def signup(body: Signup, check_email: EmailChecker = Depends(email_checker)):
    result = check_email(body.email)  # 422 "Did you mean ...?", 403 banned, ... when refused
    if result.is_grey:  # a relay or +tag address: confirm it by email first
        return {"status": "confirm", "email": body.email}
    return {"status": "welcome", "name": body.name}


if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
