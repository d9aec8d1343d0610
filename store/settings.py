"""The one settings object; every process (server, worker, CLI) reads it from REGLAB_* variables."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REGLAB_", env_file=".env", extra="ignore", validate_assignment=True
    )

    home: Path = Field(Path("reglab-data"), description="Where the database and checkpoints live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite under home."
    )
    data_dir: Path | None = Field(None, description="torchvision dataset root; default: home/data.")
    download: bool = Field(True, description="Let torchvision download datasets that are missing.")
    checkpoint_dir: Path | None = Field(None, description="Default: home/checkpoints.")
    artifacts: Literal["auto", "file", "db"] = Field(
        "auto",
        description="Where final checkpoints go: files under checkpoint_dir, or the database "
        "(for workers on other machines). auto: files with SQLite, the database otherwise.",
    )

    host: str = "127.0.0.1"
    port: int = 8000
    token: SecretStr | None = Field(
        None, description="Required by every request when set; needed to bind a public address."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names the server answers to, beside loopback."
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body accepted.")
    max_streams: int = Field(100, ge=1, description="Open live-update streams at most.")
    max_work: float = Field(
        2e15,
        gt=0,
        description="Ceiling on an experiment's parameters x training images x epochs x arms.",
    )

    # Queue timing. An idle worker looks at the queue 20 times a second (a read of one index that
    # takes no write lock) and claims only what it finds, so a queued run is picked up within a
    # poll or two (bench/pickup.py measures it).
    poll_interval: float = Field(0.05, gt=0, le=5)
    heartbeat_interval: float = Field(2.0, gt=0)
    stall_timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    resume_every: Annotated[float, Field(ge=0)] | Literal["auto"] = Field(
        "auto",
        description="Seconds of training between resume checkpoints; 0: after every epoch; "
        "'auto': as often as keeps their cost (copying, serializing and storing megabytes of "
        "weights and optimizer state per arm) near 0.5 % of the training time, at most one per "
        "10 s and at least one per resume_max. A crashed run resumes from its last one.",
    )
    resume_max: float = Field(
        60.0,
        gt=0,
        description="With resume_every 'auto': the most training a crash may cost, in seconds "
        "(or one epoch, where epochs take longer), whatever a resume checkpoint costs to store.",
    )
    # The server's change-feed poll; one query per tick however many pages are open.
    feed_interval: float = Field(0.1, gt=0, le=5)
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness a worker process adds to itself at start (0: none), so that on the "
        "cores it shares with the server the pages' live updates come first; alone, training "
        "runs as fast.",
    )

    device: str = Field("auto", description="'auto' picks CUDA when available, else the CPU.")
    compile: bool = Field(
        False,
        description="torch.compile each training step's model (forward and backward). Meant for "
        "CUDA and longer runs; compiling takes tens of seconds first, and on a CPU this network "
        "trains slower for it (bench/options.py compares the two).",
    )
    lockstep: bool = Field(
        True, description="Train compatible arms of an experiment as one computation."
    )
    max_group: int = Field(
        16,
        ge=1,
        le=64,
        description="Arms trained in lockstep at most; on the CPU also no more than keep their "
        "training state in the last-level cache (lockstep is slower past it).",
    )

    @property
    def resolved_home(self) -> Path:  # derived on each use: settings may be changed in place
        return self.home.expanduser().resolve()

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'reglab.db'}"

    @property
    def dataset_root(self) -> Path:
        return (self.data_dir or self.resolved_home / "data").expanduser().resolve()

    @property
    def artifact_storage(self) -> str:
        if self.artifacts != "auto":
            return self.artifacts
        return "file" if self.db_url.startswith("sqlite") else "db"

    @property
    def checkpoints(self) -> Path:
        return (self.checkpoint_dir or self.resolved_home / "checkpoints").expanduser().resolve()
