"""The small, typed contract between the engine and a job."""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeAlias

__all__ = [
    "Answer",
    "ApiVersion",
    "Call",
    "Concern",
    "ErrorKind",
    "Failure",
    "InvalidResponse",
    "Item",
    "JSONValue",
    "Job",
    "Request",
    "Response",
    "Result",
    "SuccessFields",
    "error_fields",
]

#: A value as JSON has it: what a request body is made of.
JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"

#: A job's success fields (`Job.parse_success`): JSON values of the types the job
#: documents. `Any`, not `JSONValue`: callers read them as those types (a token is a str).
SuccessFields: TypeAlias = dict[str, Any]

#: ``ended``: a record another job's success ended (`Job.ends`), in the results file it was in
ErrorKind = Literal[
    "http", "network", "timeout", "invalid_input", "invalid_response", "aborted", "ended"
]


def error_fields(request_id_name: str) -> tuple[str, ...]:
    """The fields of a failure in record order (CSV flattens them to ``error_<name>``);
    the job names the request-id field (`Job.request_id_field`)."""
    return ("kind", "http_status", "message", request_id_name)


@dataclass(frozen=True, slots=True)
class Item:
    """One key to process, and the input line it came from."""

    key: str
    line: int
    #: input columns carried into the record (--keep-columns), passed through untouched
    columns: Mapping[str, object] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request a job wants sent; ``path`` is appended to the base URL (a job puts
    the key in it where its API wants it, quoted). ``json`` None: the request has no body."""

    method: str
    path: str
    json: JSONValue | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Call:
    """What the engine gives a job to build one item's request with."""

    #: the API credential of the run
    token: str
    #: names this item's operation in this run, the same on every attempt of it and new in
    #: every run: for an API that replays the answer to a repeated key (``Idempotency-Key``)
    idempotency_key: str
    #: the API version the run asks for (`Job.api_version`, or the run's own choice);
    #: None: ask for none
    api_version: str | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """What came back, read whole (bodies here are small)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    #: when the answer's headers arrived, on the wall clock (UTC)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)


class Concern(enum.Enum):
    """What a non-2xx answer is about, as the job reads it (`Job.read_answer`)."""

    #: the key: the verdict of the status holds (a 404 for this ID, a 500, a 429 of the
    #: API's rate limit)
    KEY = "key"
    #: the key's operation is still in progress at the API (an earlier attempt of it, whose
    #: answer was lost, is being processed): nothing was done this time; retry after the
    #: answer's Retry-After. Not the API's rate limit, even when it comes as a 429.
    IN_PROGRESS = "in_progress"
    #: the API does not serve the API version the request asked for: every request would
    #: get the same answer, so the run stops (exit 3) and names the setting to change
    API_VERSION = "api_version"


@dataclass(frozen=True, slots=True)
class ApiVersion:
    """The API version that answered, and its lifecycle, as an answer's headers say."""

    #: the version's name ("2026-01-01"); "" when the answer names none
    name: str
    #: the state the API gives it ("stable", "beta", "deprecated"); "" when it says none
    state: str = ""
    #: when it was (or will be) deprecated: the ``Deprecation`` header (RFC 9745)
    deprecated_since: datetime | None = None
    #: when it stops working: the ``Sunset`` header (RFC 8594)
    sunset: datetime | None = None

    @property
    def deprecated(self) -> bool:
        """Whether the answer announces an end: a deprecated state, a deprecation or a sunset."""
        return (
            self.state == "deprecated"
            or self.deprecated_since is not None
            or self.sunset is not None
        )

    @property
    def since_day(self) -> str | None:
        """`deprecated_since` as people read it (``2027-01-01``); None when unsaid."""
        return _day(self.deprecated_since)

    @property
    def sunset_day(self) -> str | None:
        """`sunset` as people read it (``2028-01-01``); None when unsaid."""
        return _day(self.sunset)


def _day(when: datetime | None) -> str | None:
    """A date as people read it; None for none, or for a date a header left unsaid (year 1)."""
    return None if when is None or when.year <= 1 else when.date().isoformat()


@dataclass(frozen=True, slots=True)
class Answer:
    """What a job reads in any answer besides its body (`Job.read_answer`)."""

    #: for a non-2xx answer: what it is about
    concern: Concern = Concern.KEY
    #: the API answered from its idempotency cache: this is the answer to an earlier
    #: request with the same idempotency key (an attempt whose answer was lost)
    replayed: bool = False
    #: the API version that answered, if the answer says
    version: ApiVersion | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one attempt (and, if it was the last, the record) failed."""

    kind: ErrorKind
    message: str
    http_status: int | None = None
    #: the API's id for the request, if it sent one (for its support desk)
    request_id: str | None = None

    def as_dict(self, request_id_name: str = "request_id") -> dict[str, str | int]:
        out: dict[str, str | int] = {"kind": self.kind}
        if self.http_status is not None:
            out["http_status"] = self.http_status
        out["message"] = self.message
        if self.request_id is not None:
            out[request_id_name] = self.request_id
        return out


class InvalidResponse(Exception):
    """Raised by `Job.parse_success` for a 2xx body that breaks the schema.

    Its message must describe the problem without quoting the body: a garbled
    success body may hold a secret.
    """


@dataclass(slots=True)
class Result:
    """The outcome for one key: a record of the results file."""

    key: str
    line: int
    status: Literal["ok", "error"]
    attempts: int
    data: SuccessFields = field(default_factory=dict)
    error: Failure | None = None
    #: the item's input columns (--keep-columns), never logged
    columns: Mapping[str, object] | None = None
    #: how many of ``attempts`` were answered 429 (they do not count against max_attempts)
    rate_limited: int = 0
    #: for an error: the API's final answer about this key (a permanent error such as a
    #: 404 or a 400), which another attempt would not change; False for a transient one
    #: (attempts used up on 5xx, timeouts, 429s; a stop). Invalid input is always final.
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Job(Protocol):
    """What a module in jobs/ provides. The engine knows nothing else about the API."""

    #: command name, e.g. "fetch-users"
    name: str
    #: one-line help for the command
    summary: str
    #: long help (examples), shown by --help
    help: str
    #: record field holding the key, also the default --id-field
    key_name: str
    #: the success fields of a record, in order (CSV columns)
    fields: tuple[str, ...]
    #: success fields that are secrets (never logged)
    secret_fields: frozenset[str]
    #: the success field holding an expiry date-time, for --refresh-within (None: no expiry)
    expiry_field: str | None
    #: environment variables for the API token and the base URL
    token_env: str
    base_url_env: str
    default_base_url: str
    #: appended to the message when the API refuses the token (what the token needs)
    auth_hint: str
    #: what records call the API's request id (``error.<name>``)
    request_id_field: str
    #: the API's documented rate limit in requests per second (None: not documented);
    #: a --rate above it is warned about, and --dry-run estimates at the lower of the two
    documented_rate: float | None
    #: the API version the job is written against: asked for unless the run asks for
    #: another (`Call.api_version`)
    api_version: str
    #: the environment variable that sets another API version
    api_version_env: str
    #: the job whose records this job's successes end (a revocation ends what an issue
    #: made), or None. Run on that job's results file, a success also appends an ``ended``
    #: record for its key there, so a resumed run of that job does the key again
    ends: Job | None
    #: HTTP statuses of refusals that say the key has nothing left to end (a 404: no such
    #: key, or nothing active for it): they end its record there too, once the run's set-up
    #: has proven right (a success), for a request whose answer a crash lost is repeated
    #: and meets one
    also_ends_on: frozenset[int]
    #: None: the job changes nothing a run cannot redo. Else it is destructive, and this is
    #: the question asked on a terminal before any call ({ids}: "40 IDs", {api}: the base
    #: URL); without a terminal the run needs the confirmation given in advance
    confirmation: str | None

    def parse_key(self, raw: str) -> str:
        """Normalise a raw input value to the canonical key; ValueError(reason) if unusable."""
        ...

    def compact_key(self, key: str) -> Hashable:
        """A small stand-in for ``key`` in the de-duplication set (memory grows with it)."""
        ...

    def build_request(self, key: str, call: Call) -> Request:
        """The request creating the result for ``key`` (``call``: the credential, and the
        idempotency key of this item in this run)."""
        ...

    def parse_success(self, response: Response) -> SuccessFields:
        """Validate a 2xx body; return the record's success fields or raise InvalidResponse."""
        ...

    def speaks_api(self, response: Response) -> bool:
        """Whether a non-2xx answer is in the API's own error format (not a web server's
        or a proxy's page): a 404 from the API is about the key, one from elsewhere is not."""
        ...

    def describe_error(self, response: Response) -> Failure:
        """A non-2xx response as a failure of kind "http" (message, request_id)."""
        ...

    def read_answer(self, response: Response) -> Answer:
        """What any answer says besides its body: what a non-2xx one is about, whether it
        was replayed from the API's idempotency cache, the API version that answered."""
        ...

    def simulated_api(self) -> AbstractAsyncContextManager[str] | None:
        """A simulated API for trying the job with no credential: served on loopback for
        the length of a run, it yields its base URL (None: the job has none)."""
        ...
