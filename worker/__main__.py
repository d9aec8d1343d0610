"""`python -m worker`: what `reglab worker` and `reglab up` start."""

import logging

import click

from app.settings import Settings
from worker.loop import Worker
from worker.train import flush_denormals


@click.command()
@click.option("--max-runs", type=int, default=None, help="Exit after training this many runs.")
@click.option("--exit-when-idle", is_flag=True, help="Exit when the queue is empty.")
@click.option("--parent", type=int, default=None, help="Stop when this pid is gone.")
def main(max_runs: int | None, exit_when_idle: bool, parent: int | None) -> None:
    flush_denormals()  # before torch starts its intra-op threads
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(Settings(), parent=parent)
    worker.install_signal_handlers()
    worker.run_forever(max_runs=max_runs, exit_when_idle=exit_when_idle)


if __name__ == "__main__":
    main()
