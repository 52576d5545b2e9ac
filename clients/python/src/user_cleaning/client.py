"""The API client: one pooled session, a short timeout, typed results, and the
integration guide's fail-open behaviour (a network problem never blocks a
sign-up) unless configured to fail closed.

Only the service's exact ban answer (403 "Your IP address is banned. ...")
means the visitor's IP is banned. Any other 401 or 403 is our own
misconfiguration (a wrong, revoked or admin key): it is logged as an error
on every check and the check fails open, so a bad key never turns every
sign-up away with a ban message. problems() says what is wrong before the
first sign-up does (Django runs it in `manage.py check`)."""
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Dict, List, Optional, Union

import requests

from ._settings import setting

DEFAULT_BASE_URL = "https://api.user.cleaning"
DEFAULT_TIMEOUT = 2.0
BATCH_TIMEOUT = 300.0  # uploads and downloads of whole lists take longer than a check
BATCH_PATH = "/v1/external-api-requests/batch-check-emails"
BAN_MESSAGE = "Your IP address is banned. Contact the service administrator to unlock access."
log = logging.getLogger("user_cleaning")


class InvalidEmail(ValueError):
    """The service says the address is not valid (HTTP 422); .reason says why."""

    def __init__(self, reason: str, detail: Any = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class ConfigurationError(RuntimeError):
    """The integration cannot work as configured (Client.verify): the key is
    missing, malformed, an admin key or refused, or the URL is not the API."""


@dataclass
class Problem:
    """Something wrong with the configuration. level: "error" (no check can
    work) or "warning"; id: "missing_key", "malformed_key", "admin_key",
    "refused_key", "unreachable", "not_the_api", "service_error"."""
    id: str
    level: str
    message: str
    hint: str = ""


_KEY = re.compile(r"ucl_(live|test|admin)_([0-9A-Za-z]{32})([0-9A-Za-z]{6})")


def key_problem(key: Optional[str]) -> Optional[Problem]:
    """What is wrong with a key as written, without asking the service: not
    set, pasted with spaces, quotes or "Bearer ", an admin key, or a ucl_ key
    that is cut short or has characters a key never has. Whether a whole key
    was mistyped only the service can tell: its checksum is keyed by the
    installation's secret (problems() asks the service). Keys of other formats
    (the hosted service's) are left to the service."""
    fix = "Set USER_CLEANING_API_KEY to an active key (ucl_live_...) exactly as it was printed."
    if not key:
        return Problem("missing_key", "error", "USER_CLEANING_API_KEY is not set: every check "
                       "fails open (accepts).", fix)
    if key != key.strip() or any(c.isspace() for c in key.strip()) or key[:1] in "\"'" \
            or key.lower().startswith("bearer"):
        return Problem("malformed_key", "error", "USER_CLEANING_API_KEY has spaces, quotes or "
                       "'Bearer ' around the key: the service will refuse it.", fix)
    if key.startswith("ucl_admin_"):
        return Problem("admin_key", "error", "USER_CLEANING_API_KEY is an admin key (ucl_admin_): "
                       "it is for the dashboard and the admin API, and every check with it is "
                       "refused (403).", "Use the active key (ucl_live_...) that `usercleaning "
                       "serve` printed first, or create one in the dashboard.")
    if key.startswith("ucl_") and not _KEY.fullmatch(key):
        return Problem("malformed_key", "error", "USER_CLEANING_API_KEY is not a whole key: it is "
                       "cut short, too long or has characters a key never has.", fix)
    return None


class BatchError(RuntimeError):
    """A batch call failed: .status is the HTTP status (0: no answer), .detail
    the service's words ("Invalid file extension.", "Task is still processing",
    a failed task's reason, ...)."""

    def __init__(self, status: int, detail: Any):
        super().__init__(f"HTTP {status}: {detail}" if status else str(detail))
        self.status = status
        self.detail = detail


@dataclass
class BatchTask:
    """A batch task as the service describes it (docs/api.md).

    status is "processing", "completed" or "failed"; counts holds the rows per
    category ("white", "grey", "black"), per type ("types"), "blank",
    "duplicates" and "invalid"."""
    task_id: str
    status: str
    project_name: str = ""
    file_name: str = ""
    format: str = ""
    deduplicate: bool = True
    rows_total: int = 0
    rows_done: int = 0
    counts: Dict[str, Any] = field(default_factory=dict)
    created_at: Optional[str] = None
    finished_at: Optional[str] = None
    size: int = 0
    failure_reason: Optional[str] = None
    message: Optional[str] = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def progress(self) -> float:
        """0.0 .. 1.0 (0 until the rows are counted)."""
        return self.rows_done / self.rows_total if self.rows_total else (1.0 if self.done else 0.0)

    @classmethod
    def from_body(cls, body: Dict[str, Any]) -> "BatchTask":
        return cls(**{k: body[k] for k in cls.__dataclass_fields__ if k in body})


@dataclass
class CheckResult:
    """What the service said about an address.

    category is "white", "grey" or "black"; "banned" when the client IP is
    banned (the service's ban answer; message holds its words). failed is
    True when the service could not be asked, or refused our key
    (misconfigured), and the fail mode decided the category."""
    email: str
    category: str
    type: str = "unknown"
    domain: str = ""
    mx_record: str = "unknown"
    premium: str = "unknown"
    domain_age: str = "unknown"
    date_added: str = "not added"
    remaining_attempts_before_ban: Optional[int] = None
    details: Dict[str, Any] = field(default_factory=dict)
    message: Optional[str] = None
    failed: bool = False
    misconfigured: bool = False  # failed because the service refused our key

    @property
    def banned(self) -> bool:
        return self.category == "banned"

    @property
    def is_white(self) -> bool:
        return self.category == "white"

    @property
    def is_grey(self) -> bool:
        return self.category == "grey"

    @property
    def is_black(self) -> bool:
        return self.category == "black"

    @property
    def did_you_mean(self) -> Optional[str]:
        return self.details.get("did_you_mean")

    @classmethod
    def from_body(cls, body: Dict[str, Any]) -> "CheckResult":
        known = {k: body[k] for k in cls.__dataclass_fields__ if k in body}
        return cls(**known)

    def as_guide_dict(self) -> Dict[str, Any]:
        """The integration guide's return value."""
        if self.banned:
            return {"category": "banned", "message": self.message}
        if self.failed:
            return {"category": self.category}
        return {k: getattr(self, k) for k in ("email", "domain", "category", "type", "mx_record",
                                             "premium", "domain_age", "date_added",
                                             "remaining_attempts_before_ban", "details")}


class Client:
    """Client(api_key, base_url, timeout, fail_mode="open"|"closed")."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL,
                 timeout: float = DEFAULT_TIMEOUT, fail_mode: str = "open",
                 session: Optional[requests.Session] = None):
        if fail_mode not in ("open", "closed"):
            raise ValueError('fail_mode is "open" or "closed"')
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.fail_mode = fail_mode
        self.session = session or requests.Session()

    def _failed(self, email: str, why: str, misconfigured: bool = False) -> CheckResult:
        if misconfigured:  # every check fails until someone fixes it: say so loudly
            log.error("user.cleaning is MISCONFIGURED (%s); every check fails %s until it is "
                      "fixed: run `manage.py check` or Client.problems()", why, self.fail_mode)
        else:
            log.warning("user.cleaning check failed (%s); failing %s", why, self.fail_mode)
        return CheckResult(email=email, category="white" if self.fail_mode == "open" else "black",
                           type="unavailable", failed=True, message=why,
                           misconfigured=misconfigured)

    def check(self, email: str, ip: Optional[str] = None) -> CheckResult:
        """Checks one address for the end user at ip. Raises InvalidEmail on
        422; everything else gives a result: banned only for the service's ban
        answer; failed (by the fail mode) when the service cannot be asked or
        refuses our key (misconfigured, logged as an error)."""
        if not self.api_key:
            return self._failed(email, "USER_CLEANING_API_KEY is not set", misconfigured=True)
        try:
            r = self.session.post(f"{self.base_url}/v1/email/check",
                                  json={"email": email, "ip": ip or "unknown"},
                                  headers={"Authorization": f"Bearer {self.api_key}"},
                                  timeout=self.timeout)
        except requests.RequestException as e:
            return self._failed(email, f"{type(e).__name__}: {e}")
        if r.status_code == 200:
            try:
                return CheckResult.from_body(r.json())
            except (ValueError, TypeError) as e:
                return self._failed(email, f"unreadable answer: {e}")
        detail = _detail(r)
        if r.status_code == 403 and detail == BAN_MESSAGE:
            return CheckResult(email=email, category="banned", type="banned", message=detail)
        if r.status_code == 422:
            reason = detail
            if isinstance(detail, list) and detail:
                reason = (detail[0].get("ctx") or {}).get("reason") or detail[0].get("msg")
            raise InvalidEmail(str(reason), detail)
        if r.status_code in (401, 403):
            problem = key_problem(self.api_key)
            why = f"the service refused the API key (HTTP {r.status_code}: {detail})"
            return self._failed(email, why + (f": {problem.message}" if problem else ""),
                                misconfigured=True)
        return self._failed(email, f"HTTP {r.status_code}: {detail}")

    def problems(self, probe: bool = True) -> List[Problem]:
        """What would stop checks from working: the key as written, then (probe)
        one request that counts nothing (an empty address: a working check key
        gets 422) to see whether the URL answers and takes the key."""
        p = key_problem(self.api_key)
        if p and p.id in ("missing_key", "admin_key", "malformed_key") or not probe:
            return [p] if p else []
        url = f"{self.base_url}/v1/email/check"
        try:
            r = self.session.post(url, json={"email": ""}, timeout=self.timeout,
                                  headers={"Authorization": f"Bearer {self.api_key}"})
        except requests.RequestException as e:
            return [Problem("unreachable", "warning", f"USER_CLEANING_API_URL {self.base_url} cannot "
                            f"be reached ({type(e).__name__}): until it can, every check fails "
                            f"{self.fail_mode}.", "Start the service (`make run`) or fix "
                            "USER_CLEANING_API_URL.")]
        detail = _detail(r)
        if r.status_code == 422:
            return []
        if r.status_code == 403 and isinstance(detail, str) and "admin key" in detail:
            return [Problem("admin_key", "error", f"The service says the key is an admin key: {detail}",
                            "Use an active key (ucl_live_...).")]
        if r.status_code in (401, 403):
            return [Problem("refused_key", "error", f"The service at {self.base_url} refuses "
                            f"USER_CLEANING_API_KEY (HTTP {r.status_code}: {detail}): every check "
                            f"fails {self.fail_mode}.", "The key was revoked, retyped, or belongs "
                            "to another server: create one in the dashboard.")]
        if r.status_code in (404, 405):
            return [Problem("not_the_api", "error", f"{url} answers HTTP {r.status_code}: "
                            "USER_CLEANING_API_URL is not a user.cleaning API.",
                            "Set it to the server's base URL, e.g. http://127.0.0.1:8080.")]
        return [Problem("service_error", "warning", f"{url} answers HTTP {r.status_code}: {detail}")]

    def verify(self) -> None:
        """Raises ConfigurationError with every error problems() finds."""
        errors = [p for p in self.problems() if p.level == "error"]
        if errors:
            raise ConfigurationError("; ".join(p.message for p in errors))


    # ---- batch verification (asynchronous) ----

    def _batch(self, method: str, path: str = "", **kw) -> requests.Response:
        if not self.api_key:
            raise ConfigurationError("USER_CLEANING_API_KEY is not set")
        try:
            r = self.session.request(method, self.base_url + BATCH_PATH + path,
                                     headers={"Authorization": f"Bearer {self.api_key}"},
                                     timeout=kw.pop("timeout", BATCH_TIMEOUT), **kw)
        except requests.RequestException as e:
            raise BatchError(0, f"{type(e).__name__}: {e}") from e
        if r.status_code == 401:
            raise ConfigurationError(f"the API key was refused: {_detail(r)}")
        if r.status_code >= 400:
            raise BatchError(r.status_code, _detail(r))
        return r

    def batch_check(self, file: Union[str, "os.PathLike[str]", IO[bytes]], project_name: str,
                    deduplicate: bool = True, filename: Optional[str] = None) -> BatchTask:
        """Uploads a list (a path, or a binary file object with filename= or a
        .name) of .csv, .tsv, .txt or .xlsx; returns the task, processing."""
        if isinstance(file, (str, os.PathLike)):
            with open(file, "rb") as f:
                return self.batch_check(f, project_name, deduplicate, filename or os.path.basename(file))
        name = filename or os.path.basename(getattr(file, "name", "") or "")
        r = self._batch("POST", files={"file": (name, file)},
                        data={"project_name": project_name, "deduplicate": "true" if deduplicate else "false"})
        return BatchTask.from_body(r.json())

    def batch_status(self, task_id: str) -> BatchTask:
        return BatchTask.from_body(self._batch("GET", "/" + task_id, timeout=self.timeout * 5).json())

    def batch_tasks(self) -> List[BatchTask]:
        """The account's tasks, newest first."""
        return [BatchTask.from_body(t) for t in self._batch("GET", timeout=self.timeout * 5).json()["tasks"]]

    def batch_wait(self, task_id: str, timeout: Optional[float] = None, poll: float = 1.0,
                   on_progress=None) -> BatchTask:
        """Polls until the task is completed or failed (returned either way);
        TimeoutError after timeout seconds (None: no limit). on_progress(task)
        is called after each poll."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.batch_status(task_id)
            if on_progress:
                on_progress(task)
            if task.done:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {task.status} after {timeout} s "
                                   f"({task.rows_done}/{task.rows_total} rows)")
            time.sleep(poll)

    def batch_download(self, task_id: str, path: Optional[Union[str, "os.PathLike[str]"]] = None
                       ) -> Union[bytes, str]:
        """The cleaned file: its bytes, or written to path (returned), streamed."""
        r = self._batch("GET", f"/{task_id}/download", stream=True)
        if path is None:
            return r.content
        with open(path, "wb") as f:
            for chunk in r.iter_content(1 << 16):
                f.write(chunk)
        return str(path)

    def batch_delete(self, task_id: str) -> None:
        """Deletes the task and frees its storage."""
        self._batch("DELETE", "/" + task_id, timeout=self.timeout * 5)


def _detail(r: requests.Response) -> Any:
    try:
        return r.json().get("detail")
    except (ValueError, AttributeError):
        return r.text[:200]


_default = threading.local()


def default_client() -> Client:
    """A client from the settings, one per thread (sessions are not thread-safe)."""
    config = (setting("USER_CLEANING_API_KEY", ""), setting("USER_CLEANING_API_URL", DEFAULT_BASE_URL),
              float(setting("USER_CLEANING_TIMEOUT", DEFAULT_TIMEOUT)),
              setting("USER_CLEANING_FAIL_MODE", "open"))
    client = getattr(_default, "client", None)
    if client is None or getattr(_default, "config", None) != config:
        client = Client(*config)
        _default.client, _default.config = client, config
    return client


def check_email(email: str, client_ip: str) -> Dict[str, Any]:
    """The integration guide's helper: the API's answer as a dict;
    {"category": "banned", "message": ...} for the ban answer;
    {"category": "white"} when the service cannot be asked or refuses the key
    (fail open; logged)."""
    try:
        return default_client().check(email, client_ip).as_guide_dict()
    except InvalidEmail as e:
        log.error("user.cleaning: %s", e)
        return {"category": "white"}
