"""`python -m worker`: what `reglab worker` and `reglab up` start."""

import logging
import os

import click

from store.settings import Settings


@click.command()
@click.option("--max-runs", type=int, default=None, help="Exit after training this many runs.")
@click.option("--exit-when-idle", is_flag=True, help="Exit when the queue is empty.")
@click.option("--parent", type=int, default=None, help="Stop when this pid is gone.")
def main(max_runs: int | None, exit_when_idle: bool, parent: int | None) -> None:
    settings = Settings()
    # Before torch is imported: importing it starts a thread, and on Linux a thread keeps the
    # niceness it was started with. Training keeps every core busy; at equal priority the
    # server's feed poller waits its turn among its threads and live updates lag (measured by
    # bench/sse_latency.py). Alone on the cores, training runs as fast.
    os.nice(settings.worker_nice)
    from worker.loop import Worker
    from worker.train import flush_denormals

    flush_denormals()  # before torch starts its intra-op threads
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(settings, parent=parent)
    worker.install_signal_handlers()
    worker.run_forever(max_runs=max_runs, exit_when_idle=exit_when_idle)


if __name__ == "__main__":
    main()
