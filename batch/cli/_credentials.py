"""Where a run calls, and with which token: the base URL checked, the token read, the
records' origin (which API and account they come from, never the token itself)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from batch.cli._context import Run
from batch.engine import ConfigError, check_base_url, token_problem
from batch.output import Origin, origin_for

__all__ = ["SIMULATED_TOKEN", "Access", "api_access", "read_token"]

SIMULATED_TOKEN = "simulated-token"  # noqa: S105 - a simulated API accepts any token


@dataclass(frozen=True, slots=True)
class Access:
    """The API a run calls and the token it sends."""

    #: the API root, checked; None with --simulate (the simulated API is served at the start)
    base_url: str | None
    token: str
    #: which API and account the records come from (`batch.output.origin_for`)
    origin: Origin


def api_access(run: Run) -> Access:
    """The base URL and the token, checked (ConfigError). The token is redacted from every
    log line from now on; a token file others can read is warned about."""
    job, s = run.job, run.settings
    # The options first, then the credentials: a wrong URL is named even without a token.
    base_url = (
        None
        if s.simulate
        else check_base_url(
            s.base_url or job.default_base_url,
            "--base-url" if s.base_url else "the default URL",
        )
    )
    warnings: list[str] = []
    token = SIMULATED_TOKEN if s.simulate else read_token(job.token_env, s.token_file, warnings)
    run.redactor.add(token, permanent=True)
    for message in warnings:
        run.log.warning("token_file_permissions", message=message)
    return Access(base_url, token, origin_for(base_url or "", token, simulated=s.simulate))


def read_token(env_name: str, token_file: str | None, warn: list[str]) -> str:
    """The API token from ``token_file`` or the environment; never from argv."""
    if token_file:
        try:
            mode = os.stat(token_file).st_mode
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --token-file {token_file!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--token-file {token_file!r} is not UTF-8 text") from None
        if mode & 0o007:
            # Group access is how a service group is given the token (0640 root:svc);
            # everyone else is "others".
            can = (
                "readable" if mode & stat.S_IROTH else "writable" if mode & stat.S_IWOTH else "open"
            )
            warn.append(
                f"--token-file {token_file!r} is {can} by every user of this machine "
                f"(mode {oct(stat.S_IMODE(mode))}); run: chmod o-rwx {token_file}"
            )
        where = f"--token-file {token_file!r}"
    else:
        token = os.environ.get(env_name, "").strip()
        where = env_name
    if not token and token_file:
        raise ConfigError(f"--token-file {token_file!r} is empty: it must hold the API token")
    if not token:
        raise ConfigError(
            f"no API token: set {env_name} or pass --token-file PATH "
            "(use --simulate or --dry-run to run without one)"
        )
    problem = token_problem(token)
    if problem:
        raise ConfigError(f"the token in {where} {problem}")
    return token
