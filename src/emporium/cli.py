"""``emporium``: run the whole system locally and look after it.

Exit codes: 0 success, 1 failure or no launcher running, 2 bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from emporium.audit.command import audit
from emporium.chaos.command import chaos
from emporium.chassis import ChassisSettings
from emporium.chassis.settings import ConfigurationError
from emporium.launcher import (
    AlreadyRunningError,
    ControlClient,
    Launcher,
    LaunchError,
    LauncherSettings,
    NotRunningError,
    ReplicaError,
    ServiceTable,
    VarLayout,
    parse_replicas,
    read_state,
    resolve_table,
    running_pid,
)
from emporium.launcher.preflight import preflight
from emporium.launcher.secrets import mask_text
from emporium.launcher.seed import seed
from emporium.loadgen.command import load

app = typer.Typer(
    help="Emporium: a microservice e-commerce system, whole, on your machine.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False)

VarDirOption = Annotated[
    Path | None,
    typer.Option("--var-dir", help="State directory (env EMPORIUM_VAR_DIR; default ./var)"),
]
COLOURS = ("36", "33", "35", "32", "34", "91", "96", "93", "95", "92", "94")


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def _settings(**options: Any) -> LauncherSettings:
    try:
        return LauncherSettings(**{k: v for k, v in options.items() if v is not None})
    except ValueError as error:
        raise _fail(f"bad setting: {error}", 2) from None


def _layout(var_dir: Path | None) -> VarLayout:
    return VarLayout.at(_settings(var_dir=var_dir).var_dir)


class PrefixedOutput:
    """Prints instance output as ``name | line``, aligned, one colour per service."""

    def __init__(self, table: ServiceTable, replicas: dict[str, int]) -> None:
        self.colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(table.names)}
        longest = max((len(f"{n}-{max(c, 1)}") for n, c in replicas.items()), default=8)
        self.width = max(longest + 1, len("launcher"))
        self.tty = sys.stdout.isatty()

    def __call__(self, service: str, instance: str, line: str) -> None:
        prefix = f"{instance:<{self.width}}|"
        if self.tty:
            prefix = f"\x1b[{self.colour.get(service, '37')}m{prefix}\x1b[0m"
        sys.stdout.write(f"{prefix} {line}\n")
        sys.stdout.flush()


def _print_summary(summary: dict[str, Any], *, detached: bool) -> None:
    names = " ".join(i["instance"] for i in summary.get("instances", []))
    console.print(
        f"[bold green]Emporium is up[/] in {summary['startup_seconds']:.1f} s "
        f"(launcher pid {summary['pid']}, var {summary['var_dir']})",
        markup=True,
    )
    for label, key in (
        ("gateway", "gateway_url"),
        ("storefront", "storefront_url"),
        ("API docs", "api_docs_url"),
        ("broker", "broker_url"),
        ("admin", "admin_login"),
    ):
        console.print(f"  {label:<11} {summary[key]}", markup=False)
    console.print(f"  {'instances':<11} {names}", markup=False)
    hint = "emporium status | logs SERVICE | down" if detached else "Ctrl-C stops everything"
    console.print(f"  {hint}", markup=False)


def _up_detached(
    settings: LauncherSettings, table: ServiceTable, counts: dict[str, int]
) -> NoReturn:
    """Fork the launcher into its own session, its output to its log; exit once it is ready.

    A fork, not a new interpreter: this process has imported most of what the
    launcher needs, and a second import of it cost about a second of start-up.
    Safe here because this process has started no thread, and the preflight's
    ``asyncio.run`` has closed its loop and executor. (The preflight runs
    before the fork, not beside it: beside it saved about 0.2 s, but a refusal
    then waited for the launcher to stop what it had started.)
    """
    layout = VarLayout.at(settings.var_dir)
    layout.create()
    log = os.open(layout.launcher_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _become_launcher(settings, table, counts, log)
    os.close(log)
    # The broker and the pre-start steps come before readiness gating.
    deadline = time.monotonic() + settings.launcher_ready_timeout + 120
    while time.monotonic() < deadline:
        state = read_state(layout)
        if state is not None and state.get("pid") == pid:
            if state["phase"] == "ready":
                _print_summary(state["summary"], detached=True)
                # Nothing here needs the interpreter's teardown of a few
                # hundred modules (0.15 s the user would wait for).
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            if state["phase"] in ("failed", "stopped"):
                _reap(pid, within=10.0)  # it has stopped everything; let it finish exiting
                raise _fail(f"{state.get('error', 'stopped')}\n(see {layout.launcher_log})")
        exited, status = os.waitpid(pid, os.WNOHANG)
        if exited:
            code = os.waitstatus_to_exitcode(status)
            raise _fail(f"the launcher exited with {code}; see {layout.launcher_log}")
        time.sleep(0.05)
    raise _fail(f"the launcher is not ready in time (pid {pid}); see {layout.launcher_log}")


def _reap(pid: int, *, within: float) -> None:
    """Wait for the child ``pid`` to exit, at most ``within`` seconds (no zombie left behind)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.02)


def _become_launcher(
    settings: LauncherSettings, table: ServiceTable, counts: dict[str, int], log: int
) -> NoReturn:
    """The forked child: a session of its own, no terminal, and never back into the command."""
    code = 1
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        code = _run_launcher(settings, table, counts, stream=False)
    except BaseException:  # the command's own handling must not run in this process
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run_launcher(
    settings: LauncherSettings, table: ServiceTable, counts: dict[str, int], *, stream: bool
) -> int:
    """Run the launcher in this process until it stops: 0, or 1 after printing why it failed."""
    _configure_logging(stream=stream)
    output = PrefixedOutput(table, counts) if stream else None
    launcher = Launcher(settings, table=table, replicas=counts, output=output)
    try:
        asyncio.run(launcher.run(on_ready=lambda s: _print_summary(s, detached=not stream)))
    except (LaunchError, AlreadyRunningError, OSError, RuntimeError) as error:
        errors.print(f"[bold red]error:[/] {error}", markup=True, soft_wrap=True)
        return 1
    return 0


def _configure_logging(stream: bool) -> None:
    logging.basicConfig(
        level=logging.INFO,
        # The log file keeps milliseconds: start-up is a matter of them.
        format="%(asctime)s launcher | %(message)s"
        if stream
        else "%(asctime)s.%(msecs)03d %(message)s",
        datefmt="%H:%M:%S",
    )


@app.command()
def up(
    replicas: Annotated[
        list[str] | None,
        typer.Option("--replicas", "-r", help="SERVICE=N (repeatable, or comma-separated)"),
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background")] = False,
    broker: Annotated[
        Literal["nats", "rabbitmq"] | None,
        typer.Option(help="nats (embedded) or rabbitmq (env EMPORIUM_BROKER)"),
    ] = None,
    broker_url: Annotated[
        str | None,
        typer.Option(
            help="An external broker: nats://h:4222[,nats://h2:4222] or amqp://u:p@h:5672/ "
            "(env EMPORIUM_BROKER_URL); none: the embedded NATS"
        ),
    ] = None,
    profile: Annotated[
        Literal["local", "prod"] | None, typer.Option(help="(env EMPORIUM_PROFILE)")
    ] = None,
    var_dir: VarDirOption = None,
    gateway_port: Annotated[
        int | None, typer.Option(help="(env EMPORIUM_GATEWAY_PORT; default 8080)")
    ] = None,
    ready_timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for readiness (default 60)")
    ] = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="Serve the gateway over HTTPS (local CA in var/tls/)")
    ] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", hidden=True)] = False,
) -> None:
    """Start the broker and every service; wait until all are ready."""
    settings = _settings(
        var_dir=var_dir,
        gateway_port=gateway_port,
        broker=broker,
        broker_url=broker_url,
        profile=profile,
        launcher_ready_timeout=ready_timeout,
        tls=tls or None,
    )
    arguments = [part for value in replicas or [] for part in value.split(",") if part.strip()]
    try:
        table = resolve_table(settings)
        counts = parse_replicas(arguments, table)
    except ReplicaError as error:
        raise _fail(str(error), 2) from None
    layout = VarLayout.at(settings.var_dir)
    pid = running_pid(layout.pid_file)
    if pid is not None:
        raise _fail(
            f"a launcher is already running in {layout.root} (pid {pid}); "
            "stop it with `emporium down` or use another --var-dir"
        )
    _preflight_or_exit(settings, table)
    if detach:
        _up_detached(settings, table, counts)  # never returns
    if _run_launcher(settings, table, counts, stream=not no_stream):
        raise typer.Exit(1)


@app.command()
def down(
    var_dir: VarDirOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for it to stop")] = 30.0,
) -> None:
    """Stop the launcher running in the var directory (it drains every instance)."""
    layout = _layout(var_dir)
    pid = running_pid(layout.pid_file)
    if pid is None:
        console.print(f"no launcher is running in {layout.root}", markup=False)
        return
    if pid <= 0:
        raise _fail(f"a launcher holds {layout.pid_file} but its pid is unreadable")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(layout.pid_file) is not None:
        if time.monotonic() > deadline:
            raise _fail(f"the launcher (pid {pid}) is still running after {timeout:g}s")
        time.sleep(0.1)
    console.print(f"stopped the launcher (pid {pid})", markup=False)


def _client(var_dir: Path | None) -> ControlClient:
    return ControlClient(_layout(var_dir).socket)


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of instances")] = False,
    var_dir: VarDirOption = None,
) -> None:
    """Every instance: pid, port, health (probed now), restarts, state, uptime."""
    try:
        body = asyncio.run(_client(var_dir).status())
    except NotRunningError as error:
        raise _fail(str(error)) from None
    instances: list[dict[str, Any]] = body["instances"]
    if as_json:
        sys.stdout.write(json.dumps(instances, indent=2) + "\n")
        return
    info = body["launcher"]
    console.print(
        f"launcher pid {info['pid']}  gateway {info['gateway_url']}  broker {info['broker_url']}",
        markup=False,
    )
    table = Table(box=None, header_style="bold")
    for column in ("SERVICE", "INSTANCE", "PID", "PORT", "HEALTH", "RESTARTS", "STATE", "UPTIME"):
        table.add_column(column)
    colours = {"ready": "green", "not-ready": "yellow", "down": "red"}
    for i in instances:
        health = f"[{colours[i['health']]}]{i['health']}[/]"
        table.add_row(
            i["service"],
            i["instance"],
            str(i["pid"] or "-"),
            str(i["port"] or "-"),
            health,
            str(i["restarts"]),
            i["state"],
            _uptime(i["uptime"]),
        )
    console.print(table)


@app.command()
def scale(
    targets: Annotated[list[str], typer.Argument(help="SERVICE=N, e.g. catalog=3")],
    var_dir: VarDirOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for new instances")] = 60.0,
) -> None:
    """Start or stop instances of one service at run time; other services are untouched."""
    client = _client(var_dir)
    for target in targets:
        if "=" not in target:
            raise _fail(f"{target!r}: expected SERVICE=N, e.g. catalog=3", 2)
        try:
            code, body = asyncio.run(client.scale(target, ready_timeout=timeout))
        except NotRunningError as error:
            raise _fail(str(error)) from None
        if code != 200:
            raise _fail(body.get("error", f"the launcher answered {code}"), 2)
        changes = [f"started {n}" for n in body["started"]] + [
            f"stopped {n}" for n in body["stopped"]
        ]
        console.print(
            f"{body['service']}: {body['replicas']} instance(s)"
            + (f" ({', '.join(changes)})" if changes else " (unchanged)"),
            markup=False,
        )
        if body["not_ready"]:
            raise _fail(f"not ready in {timeout:g}s: {', '.join(body['not_ready'])}")


@app.command()
def restart(
    service: Annotated[str, typer.Argument(help="The service whose instances to replace")],
    var_dir: VarDirOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each new instance")] = 60.0,
) -> None:
    """Replace a service's instances one at a time (rolling; no failed requests)."""
    try:
        code, body = asyncio.run(_client(var_dir).restart(service, ready_timeout=timeout))
    except NotRunningError as error:
        raise _fail(str(error)) from None
    if code != 200:
        raise _fail(body.get("error", f"the launcher answered {code}"), 2)
    console.print(f"{service}: now {', '.join(body['restarted'])}", markup=False)
    if body["not_ready"]:
        raise _fail(
            f"not ready in {timeout:g}s: {', '.join(body['not_ready'])}; "
            "the instances not yet replaced keep serving"
        )


def _log_files(layout: VarLayout, service: str) -> list[Path]:
    found = [
        p
        for p in layout.log.glob(f"{service}-*.log")
        if p.stem.removeprefix(f"{service}-").isdigit()
    ]
    return sorted(found, key=lambda p: int(p.stem.rsplit("-", 1)[1]))


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="A service name, e.g. catalog")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing")] = False,
    grep: Annotated[
        str | None, typer.Option("--grep", "-g", help="Only lines matching this regex")
    ] = None,
    var_dir: VarDirOption = None,
) -> None:
    """Print the log files of every instance of SERVICE, each line prefixed."""
    try:
        pattern = re.compile(grep) if grep else None
    except re.error as error:
        raise _fail(f"--grep: {error}", 2) from None
    layout = _layout(var_dir)
    settings = _settings(var_dir=var_dir)
    files = _log_files(layout, service)
    if not files:
        try:
            resolve_table(settings).get(service)
        except ReplicaError as error:
            raise _fail(str(error), 2) from None
        if not follow:
            raise _fail(f"no logs for {service} in {layout.log}")
    width = max((len(p.stem) for p in files), default=len(service) + 2) + 1
    offsets: dict[Path, int] = {}
    try:
        while True:
            for path in _log_files(layout, service):
                with path.open("rb") as handle:
                    handle.seek(offsets.get(path, 0))
                    data = handle.read()
                    # Keep a partial last line for the next round.
                    complete = data[: data.rfind(b"\n") + 1]
                    offsets[path] = offsets.get(path, 0) + len(complete)
                for line in complete.decode(errors="replace").splitlines():
                    if pattern is not None and not pattern.search(line):
                        continue
                    sys.stdout.write(f"{path.stem:<{width}}| {line}\n")
            sys.stdout.flush()
            if not follow:
                return
            time.sleep(0.25)
    except KeyboardInterrupt:
        return


def _preflight_or_exit(settings: LauncherSettings, table: ServiceTable) -> int:
    """Run the preflight; print every problem and exit 1 if there is one."""
    problems = asyncio.run(
        preflight(
            table,
            profile=settings.profile,
            broker_url=settings.external_broker_url(),
            environ=os.environ,
        )
    )
    if problems:
        errors.print(
            f"[bold red]error:[/] {len(problems)} problem(s) to fix before "
            f"Emporium can start ({settings.profile} profile):",
            markup=True,
        )
        for problem in problems:
            errors.print(f"  - {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(1)
    return len(table.services)


@app.command()
def check(
    profile: Annotated[
        Literal["local", "prod"] | None, typer.Option(help="(env EMPORIUM_PROFILE)")
    ] = None,
    broker: Annotated[Literal["nats", "rabbitmq"] | None, typer.Option()] = None,
    broker_url: Annotated[str | None, typer.Option(help="(env EMPORIUM_BROKER_URL)")] = None,
) -> None:
    """Check every service's settings (prod: reach every store and broker); list all problems."""
    settings = _settings(profile=profile, broker=broker, broker_url=broker_url)
    count = _preflight_or_exit(settings, resolve_table(settings))
    reached = " and reached every store and broker" if settings.profile == "prod" else ""
    console.print(f"ok: {count} services' settings are complete{reached}", markup=False)


@app.command()
def migrate(
    service: Annotated[str | None, typer.Argument(help="One service (default: every one)")] = None,
    to: Annotated[
        str, typer.Option("--to", help="Revision: head, base (empty) or an id such as 0001")
    ] = "head",
    profile: Annotated[
        Literal["local", "prod"] | None, typer.Option(help="(env EMPORIUM_PROFILE)")
    ] = None,
    var_dir: VarDirOption = None,
) -> None:
    """Upgrade (or downgrade) each service's store to a revision; services do `head` at start-up."""
    # Alembic and SQLAlchemy only for this command, not for every `emporium` call.
    from emporium.launcher.migrate import database_url, stores

    settings = _settings(profile=profile, var_dir=var_dir)
    table = resolve_table(settings)
    chassis = ChassisSettings(profile=settings.profile, var_dir=settings.var_dir)
    found = stores(table)
    if service is not None:
        if service not in found:
            raise _fail(f"{service!r} has no store to migrate (stores: {', '.join(found)})", 2)
        found = {service: found[service]}
    for name, migrations in found.items():
        try:
            url = database_url(table.get(name), chassis)
        except (ConfigurationError, LookupError) as error:
            raise _fail(f"{name}: {error}") from None
        try:
            before = asyncio.run(migrations.current(url))
            if to == "base" or (to != "head" and before is not None and _is_newer(before, to)):
                asyncio.run(migrations.downgrade(url, to))
            else:
                asyncio.run(migrations.upgrade(url, to))
            after = asyncio.run(migrations.current(url))
        except Exception as error:
            raise _fail(f"{name}: {mask_text(str(error).splitlines()[0])}") from None
        console.print(f"{name:<16} {before or 'empty'} -> {after or 'empty'}", markup=False)


def _is_newer(current: str, target: str) -> bool:
    # Revision ids are zero-padded sequence numbers ("0001", "0002", ...).
    return current > target


@app.command("trace")
def trace_command(
    key: Annotated[str, typer.Argument(help="An order id, a request id or a trace id")],
    var_dir: VarDirOption = None,
) -> None:
    """The span tree of a request or an order, from every instance's recent spans."""
    from emporium.launcher.trace import gather_spans, span_tree  # httpx: only for this command

    try:
        body = asyncio.run(_client(var_dir).status())
    except NotRunningError as error:
        raise _fail(str(error)) from None
    spans = gather_spans(key, body["instances"], body["launcher"]["gateway_url"])
    if not spans:
        raise _fail(f"no instance remembers a trace for {key} (spans are kept in a bounded ring)")
    for tree in span_tree(spans):
        console.print(tree)
    console.print(f"{len(spans)} spans from {len({s['instance'] for s in spans})} instances")


@app.command("deadletters")
def deadletters_command(
    replay: Annotated[
        str | None, typer.Option("--replay", help="SERVICE:ID of a dead letter to publish again")
    ] = None,
    var_dir: VarDirOption = None,
) -> None:
    """Every service's dead letters; --replay SERVICE:ID publishes one again (one effect)."""
    from emporium.launcher.deadletters import (  # httpx: only for this command
        DEAD_LETTER_SERVICES,
        list_dead_letters,
        replay_dead_letter,
    )

    try:
        gateway = asyncio.run(_client(var_dir).status())["launcher"]["gateway_url"]
    except NotRunningError as error:
        raise _fail(str(error)) from None
    try:
        if replay is not None:
            service, _, letter_id = replay.partition(":")
            if service not in DEAD_LETTER_SERVICES or not letter_id:
                raise _fail(f"--replay: expected SERVICE:ID, e.g. inventory:42, not {replay!r}", 2)
            if not replay_dead_letter(gateway, service, letter_id):
                raise _fail(f"{service} has no dead letter {letter_id}")
            console.print(f"replayed {service}:{letter_id}", markup=False)
            return
        found = list_dead_letters(gateway)
    except PermissionError as error:
        raise _fail(str(error)) from None
    table = Table(box=None, header_style="bold")
    for column in ("SERVICE:ID", "TYPE", "MESSAGE", "DELIVERIES", "REASON"):
        table.add_column(column)
    for service, letters in found.items():
        if letters is None:
            table.add_row(service, "?", "-", "-", "did not answer")
        for letter in letters or []:
            table.add_row(
                f"{service}:{letter['id']}",
                letter["type"],
                letter["message_id"][:8],
                str(letter["deliveries"]),
                letter["reason"][:80],
            )
    console.print(table)


app.command("audit")(audit)
app.command("seed")(seed)
app.command("load")(load)
app.command("chaos")(chaos)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
