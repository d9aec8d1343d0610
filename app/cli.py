"""`reglab up | serve | worker`.

The worker runs as its own Python process (`python -m worker`): the web side never imports torch.
"""

import os
import signal
import sys

import click
import uvicorn

from app.security import bind_host_valid, is_loopback
from store.settings import Settings


def _worker_argv(
    max_runs: int | None = None, exit_when_idle: bool = False, parent: int | None = None
) -> list[str]:
    argv = [sys.executable, "-m", "worker"]
    if parent is not None:
        argv += ["--parent", str(parent)]
    if max_runs is not None:
        argv += ["--max-runs", str(max_runs)]
    if exit_when_idle:
        argv.append("--exit-when-idle")
    return argv


@click.group()
def main() -> None:
    """reglab: live regularization experiments in PyTorch."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default: REGLAB_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: REGLAB_PORT or 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Run the web dashboard and API only."""
    _serve(Settings(), host, port)


def check_bind(settings: Settings) -> None:
    """A public address only with a token: the dashboard starts jobs and serves files. Loopback
    means `localhost` or an address that parses as one (is_loopback), never a name's prefix."""
    if not bind_host_valid(settings.host):
        raise click.UsageError(
            f"--host {settings.host!r} is not an IP address or a host name without a port (e.g. "
            "127.0.0.1, ::1, 0.0.0.0, localhost)."
        )
    token = settings.token.get_secret_value().strip() if settings.token else ""
    if not is_loopback(settings.host) and not token:  # an empty token would be no protection
        raise click.UsageError(
            f"refusing to listen on {settings.host}: anyone who can reach it could start training "
            "jobs and download checkpoints. Set REGLAB_TOKEN to a long random secret (every "
            "request must then carry it), or listen on 127.0.0.1."
        )


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    from app.main import create_app

    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    check_bind(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=3,
    )


@main.command()
@click.option("--max-runs", type=int, default=None, help="Exit after training this many runs.")
@click.option("--exit-when-idle", is_flag=True, help="Exit when the queue is empty.")
def worker(max_runs: int | None, exit_when_idle: bool) -> None:
    """Run one training worker: claims queued runs and trains them."""
    argv = _worker_argv(max_runs, exit_when_idle)
    os.execv(argv[0], argv)


@main.command()
@click.option("--host", default=None, help="Address to bind (default: REGLAB_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: REGLAB_PORT or 8000).")
@click.option(
    "--workers",
    "n_workers",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="Training worker processes to start beside the server.",
)
def up(host: str | None, port: int | None, n_workers: int) -> None:
    """Run the dashboard and N workers on one machine; Ctrl-C stops them all."""
    settings = Settings()
    check_bind(settings.model_copy(update={"host": host or settings.host}))
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    click.echo(f"reglab: data in {settings.resolved_home}, database {settings.db_url}")
    # Restarted when they exit or die (app.supervise); in their own sessions, so Ctrl-C reaches
    # only this process, which then stops them in order (each finishes its batch and gives its
    # run back to the queue). They also stop by themselves if this process dies.
    from app.supervise import WorkerSupervisor

    supervisor = WorkerSupervisor(settings, n_workers, _worker_argv(parent=os.getpid()))
    supervisor.start()
    # uvicorn re-raises the SIGTERM it caught once it has shut down; turn it into an exit that
    # runs the finally below, instead of the default action that would orphan the workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        _serve(settings, host, port)
    finally:
        _stop_workers(supervisor)


def _stop_workers(supervisor) -> None:
    said = supervisor.stop()
    if supervisor.slots:
        click.echo(f"reglab: {said}")


if __name__ == "__main__":
    main()
