"""Commands generated from configuration models: each option is declared once, as a field of its config.

:func:`config_command` turns a :class:`~crossling.config.RunConfig` subclass into a typer command whose flags
are the model's fields (``--theta-a`` for ``theta_a``), whose help texts are the fields' entries in the
numpydoc ``Attributes`` sections of the class and its bases, with the default and the choices appended, plus
``--config FILE`` for a YAML file with the same keys. Flags override the file.

It also gives every command the same error policy: a user error (:class:`~crossling.exceptions.CrosslingError`,
a value pydantic rejects, a missing file) prints one line, ``Error: ...`` naming the option or file and what to
do, and exits with status 2; Ctrl-C says the run can be resumed and exits with 130. ``crossling --debug``
shows the traceback instead.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import click
import typer
from pydantic import ValidationError

from crossling.exceptions import CrosslingError

__all__ = ["config_command", "field_docs", "run_guarded", "user_error_message"]

_SECTION = re.compile(r"^(Attributes|Parameters)\n-{3,}\n", re.MULTILINE)
_ENTRY = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\w+)*)(?:\s*:.*)?$")


def field_docs(klass_: type) -> dict[str, str]:
    """The description of each field from the numpydoc ``Attributes`` (or ``Parameters``) sections.

    An entry may name several fields (``anc_matrix, per_neuron : bool``). The class's own entries win over
    its bases'.

    Parameters
    ----------
    klass_ : type
        A class with numpydoc sections (a configuration model, a result record).

    Returns
    -------
    dict of str to str
        Field name -> its description as one paragraph ("" for an entry without one).
    """
    docs: dict[str, str] = {}
    for klass in reversed(klass_.__mro__):
        text = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        for match in _SECTION.finditer(text):
            body = text[match.end():]
            end = re.search(r"^\S.*\n-{3,}\n", body, re.MULTILINE)
            body = body[: end.start()] if end else body
            names: list[str] = []
            lines: list[str] = []
            for line in body.splitlines() + ["."]:
                if line and not line[0].isspace():
                    docs.update({name: " ".join(lines) for name in names})
                    entry = _ENTRY.match(line)
                    names = [n.strip().lstrip("*") for n in entry.group(1).split(",")] if entry else []
                    lines = []
                elif line.strip() and names:
                    lines.append(line.strip())
    return docs


def _markdown(text: str) -> str:
    """Numpydoc text as the Markdown typer renders: ``code`` as code spans, other markup characters escaped."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: f"``{m.group(1).split('.')[-1]}``", text)
    parts = re.split(r"``(.+?)``|`(.+?)`", text)
    out = []
    for i, part in enumerate(parts):
        if part is None:
            continue
        if i % 3:
            out.append(f"`{part}`")
        else:
            out.append(re.sub(r"([\\<>*_\[\]#|])", r"\\\1", part))
    return "".join(out)


def _unwrap(annotation: Any) -> Any:
    """The type under ``Optional`` and ``Annotated``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is Union:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _panel(config_cls: type, name: str) -> str:
    """The help panel of a field: ``cli_panel`` of the class that declares it."""
    for klass in config_cls.__mro__:
        if name in klass.__dict__.get("__annotations__", {}):
            return klass.__dict__.get("cli_panel", "Options")
    return "Options"


def _ordered_fields(config_cls: type) -> list[str]:
    """The fields in help order: the command's own first, then each base's, in the order of the bases."""
    order: list[str] = []
    for klass in config_cls.__mro__:
        order += [name for name in klass.__dict__.get("__annotations__", {})
                  if name in config_cls.model_fields and name not in order]
    return order


def _flag(name: str, field: Any, help_text: str, panel: str) -> inspect.Parameter:
    kind = _unwrap(field.annotation)
    origin = typing.get_origin(kind)
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    choices = typing.get_args(kind) if origin is Literal else ()
    if choices:
        help_text += " One of: " + ", ".join(str(c) for c in choices) + "."
    if field.is_required():
        help_text += " [required]"
    elif field.default not in (None, "", [], {}) and not isinstance(field.default, bool):
        shown = ",".join(map(str, field.default)) if isinstance(field.default, list) else field.default
        help_text += f" [default: {shown}]"
    decls: list[str] = []
    if kind is bool:
        flag_type: Any = Optional[bool]
        dashed = name.replace("_", "-")
        decls = [f"--{dashed}/--no-{dashed}"]
        help_text += f" [default: {'on' if field.default else 'off'}]"
    elif origin is dict or extra.get("repeat"):
        flag_type = Optional[list[str]]
        help_text += " Repeat the option for several."
        decls = [f"--{extra['flag']}"] if "flag" in extra else []
    elif kind in (int, float, Path):
        flag_type = Optional[kind]
    else:
        flag_type = Optional[str]
    option = typer.Option(*decls, help=help_text, show_default=False, metavar=extra.get("metavar"),
                          rich_help_panel=panel)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[flag_type, option])


def user_error_message(error: BaseException) -> str:
    """One line that says what is wrong: the option and pydantic's reason, or the error's own message.

    Parameters
    ----------
    error : BaseException

    Returns
    -------
    str
    """
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        option = "--" + "-".join(str(part) for part in first["loc"][:1]).replace("_", "-") if first["loc"] else ""
        if first["type"] == "missing":
            key = first["loc"][0]
            return f"{option} is required (give the flag, or {key}: in the --config YAML file)"
        reason = str(first["msg"]).removeprefix("Value error, ")
        given = first.get("input")
        shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
        more = f"; {error.error_count() - 1} more problem(s)" if error.error_count() > 1 else ""
        return f"{option}: {reason}{shown}{more}" if option else f"{reason}{more}"
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return " ".join(str(error).split())


def _debug(ctx: click.Context | None) -> bool:
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and isinstance(root.obj, dict) and root.obj.get("debug"))


def run_guarded(action: Callable[[], Any], ctx: click.Context | None = None) -> Any:
    """Run a command's work under the error policy of the command line (see the module docstring).

    Parameters
    ----------
    action : callable
        The command's work, without arguments.
    ctx : click.Context, optional
        The command's context; ``crossling --debug`` (kept in the root context) lets errors through.

    Returns
    -------
    object
        What ``action`` returns.

    Raises
    ------
    typer.Exit
        With code 2 after a user error, 130 after Ctrl-C (unless ``--debug``).
    """
    try:
        return action()
    except (CrosslingError, ValidationError, FileNotFoundError, NotADirectoryError, PermissionError) as error:
        if _debug(ctx):
            raise
        typer.secho(f"Error: {user_error_message(error)}", err=True, fg="red")
        raise typer.Exit(2) from None
    except OSError as error:
        if _debug(ctx) or error.errno is None or error.errno not in (28, 122):  # ENOSPC, EDQUOT
            raise
        typer.secho(f"Error: {user_error_message(error)}: the disk is full; free space and run the same command "
                    "again (finished work is kept)", err=True, fg="red")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        if _debug(ctx):
            raise
        typer.secho("Interrupted. Run the same command again to resume: finished extractions, checkpoints and "
                    "results are kept, and nothing half-written is trusted.", err=True, fg="yellow")
        raise typer.Exit(130) from None


def config_command(app: typer.Typer, name: str, config_cls: type, *, hidden: tuple[str, ...] = (),
                   aliases: tuple[str, ...] = ()) -> Callable[[Callable[[Any], Any]], Callable[..., Any]]:
    """Register a command on ``app`` whose flags are the fields of ``config_cls``.

    The decorated function takes the resolved configuration and does the work; its docstring is the
    command's help.

    Parameters
    ----------
    app : typer.Typer
    name : str
        The command's name.
    config_cls : type
        A :class:`~crossling.config.RunConfig` subclass.
    hidden : tuple of str
        Fields without a flag (settable in the YAML file only).
    aliases : tuple of str
        Other names of the same command, hidden from the command list.

    Returns
    -------
    callable
        The decorator.
    """
    docs = field_docs(config_cls)

    def decorate(body: Callable[[Any], Any]) -> Callable[..., Any]:
        params = []
        for field_name in _ordered_fields(config_cls):
            field = config_cls.model_fields[field_name]
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if field_name in hidden or extra.get("cli") is False:
                continue
            params.append(_flag(field_name, field, _markdown(docs.get(field_name, "")),
                                _panel(config_cls, field_name)))
        params.append(inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[Path], typer.Option(help="YAML file with any of these options (relative paths in it are read "
                                              "against its folder); flags override it.", metavar="FILE",
                                         rich_help_panel="Options")]))

        def command(ctx: typer.Context, **flags: Any) -> None:
            config_file = flags.pop("config")

            def work() -> None:
                body(config_cls.resolve(config_file, **flags))

            run_guarded(work, ctx)

        params.insert(0, inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context))
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = body.__doc__
        command.__name__ = body.__name__
        app.command(name)(command)
        for alias in aliases:
            app.command(alias, hidden=True)(command)
        return command

    return decorate
