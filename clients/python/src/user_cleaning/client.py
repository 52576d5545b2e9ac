"""The API client: one pooled session, a short timeout, typed results, and the
integration guide's fail-open behaviour (a network problem never blocks a
sign-up) unless configured to fail closed."""
import logging
import os
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
log = logging.getLogger("user_cleaning")


class InvalidEmail(ValueError):
    """The service says the address is not valid (HTTP 422); .reason says why."""

    def __init__(self, reason: str, detail: Any = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class ConfigurationError(RuntimeError):
    """The API key was refused (HTTP 401) or is missing."""


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
    banned (HTTP 403, message holds the service's words). failed is True when
    the service could not be asked and the fail mode decided the category."""
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

    def _failed(self, email: str, why: str) -> CheckResult:
        log.warning("user.cleaning check failed (%s); failing %s", why, self.fail_mode)
        return CheckResult(email=email, category="white" if self.fail_mode == "open" else "black",
                           type="unavailable", failed=True, message=why)

    def check(self, email: str, ip: Optional[str] = None) -> CheckResult:
        """Checks one address for the end user at ip. Raises InvalidEmail on 422
        and ConfigurationError on 401; everything else gives a result."""
        if not self.api_key:
            raise ConfigurationError("USER_CLEANING_API_KEY is not set")
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
        if r.status_code == 403:
            return CheckResult(email=email, category="banned", type="banned", message=detail)
        if r.status_code == 422:
            reason = detail
            if isinstance(detail, list) and detail:
                reason = (detail[0].get("ctx") or {}).get("reason") or detail[0].get("msg")
            raise InvalidEmail(str(reason), detail)
        if r.status_code == 401:
            raise ConfigurationError(f"the API key was refused: {detail}")
        return self._failed(email, f"HTTP {r.status_code}: {detail}")


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
    {"category": "banned", "message": ...} on 403; {"category": "white"} when
    the service cannot be asked (fail open)."""
    try:
        return default_client().check(email, client_ip).as_guide_dict()
    except (InvalidEmail, ConfigurationError) as e:
        log.error("user.cleaning: %s", e)
        return {"category": "white"}
