"""How a setting declares its command-line form: `option` and `argument`, for a field's metadata.

`batch.cli._settings.Settings` is the one place options are declared: each field carries
its option (`Declared`), and `parameters` turns the fields into a command's click
parameters, in field order.

A string in a declaration may name ``{job.<attribute>}`` (the job's: its key name, its
environment variables) and ``{env_prefix}`` (the distribution's name in upper case, as
in the quota store's variable): both are filled in when the command is built for a job.

An option that only some jobs have (``--yes``: a destructive job's) says which with
``only``: a test of the job. The other jobs' commands do not show it, and their runs get
the field's default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Never

import click

from batch.engine import Job

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["OPTION", "Callback", "Declared", "argument", "declared", "option", "parameters"]

#: the metadata key of a setting's command-line form
OPTION = "option"
#: a click callback: checks and converts a value (``Any``: click's own signature)
Callback = Callable[[click.Context, click.Parameter, Any], Any]
#: which jobs' commands have an option (`Declared.only`)
JobTest = Callable[[Job], bool]


@dataclass(frozen=True, slots=True)
class Declared:
    """The command-line form of one setting: what `click.Option` (or `click.Argument`) needs."""

    decls: tuple[str, ...]
    default: object = None
    help: str | None = None
    metavar: str | None = None
    type: click.ParamType[object, Never] | None = None
    callback: Callback | None = None
    envvar: str | None = None
    flag: bool = False
    is_argument: bool = False
    #: the jobs whose commands have this option (None: every job's)
    only: JobTest | None = None

    def shown_for(self, job: Job) -> bool:
        """Whether ``job``'s command has this option."""
        return self.only is None or self.only(job)

    def click_args(
        self, name: str, words: Mapping[str, object]
    ) -> tuple[list[str], dict[str, Any]]:
        """What click is given for setting ``name``: its declarations and keyword arguments
        (``Any``: click's), the strings filled in with ``words``, only what is declared."""
        if self.is_argument:
            return [name], {"metavar": self.metavar}
        given: dict[str, Any] = {"help": _filled(self.help, words)}
        if self.flag:
            given["is_flag"] = True
        if self.default is not None:
            given["default"] = _filled(self.default, words)
            given["show_default"] = not self.flag
        for key, value in (("metavar", self.metavar), ("type", self.type),
                           ("callback", self.callback), ("envvar", self.envvar)):  # fmt: skip
            if value is not None:
                given[key] = _filled(value, words)
        return [name, *self.decls], given

    def parameter(self, name: str, words: Mapping[str, object]) -> click.Parameter:
        """The click parameter of setting ``name``."""
        decls, given = self.click_args(name, words)
        kind = click.Argument if self.is_argument else click.Option
        return kind(decls, **given)


def option(  # noqa: PLR0913 - keyword-only, one per part of a click option, named where declared
    *decls: str,
    default: object = None,
    help: str | None = None,
    metavar: str | None = None,
    type: click.ParamType[object, Never] | None = None,
    callback: Callback | None = None,
    envvar: str | None = None,
    flag: bool = False,
    only: JobTest | None = None,
) -> Mapping[str, Declared]:
    """A setting's ``--option``, for ``field(metadata=option(...))``.

    ``default`` is shown in --help (a ``flag`` is off by default); ``callback`` checks
    the value (click.BadParameter: exit 2, its message on one line); ``only``: the jobs
    whose commands have it (the field then needs a default, for the others).
    """
    declared = Declared(decls, default, help, metavar, type, callback, envvar, flag, only=only)
    return {OPTION: declared}


def argument(metavar: str) -> Mapping[str, Declared]:
    """A setting given as a positional argument, for ``field(metadata=argument(...))``."""
    return {OPTION: Declared((), metavar=metavar, is_argument=True)}


def parameters(
    settings: type[DataclassInstance], words: Mapping[str, object], job: Job
) -> list[click.Parameter]:
    """The click parameters of ``job``'s command: each field of ``settings`` that has a
    command-line form, and that form is ``job``'s (`Declared.only`)."""
    return [
        f.metadata[OPTION].parameter(f.name, words)
        for f in fields(settings)
        if OPTION in f.metadata and f.metadata[OPTION].shown_for(job)
    ]


def declared(settings: type[DataclassInstance], name: str) -> Declared:
    """The command-line form of ``settings.<name>``."""
    (found,) = (f.metadata[OPTION] for f in fields(settings) if f.name == name)
    assert isinstance(found, Declared), name
    return found


def _filled(value: object, words: Mapping[str, object]) -> object:
    return value.format_map(words) if isinstance(value, str) else value
