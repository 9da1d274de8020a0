"""Test-only: one poll of a deployment, SIGKILLed while reading a chosen message.

    python tests/crash_poll.py CONFIG

With MAIL_INGEST_TEST_KILL_ON set, the process kills itself (SIGKILL: no exception, no
cleanup, as the kernel's OOM killer does) when it starts reading a message whose raw
bytes contain that text. Only this script reads the variable; the service never does.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mail_ingest import app, config, pipeline  # noqa: E402


def main() -> None:
    marker = os.environ.get("MAIL_INGEST_TEST_KILL_ON", "").encode()
    process = pipeline.process

    def dying(fetched, digest, units, specs, **options):  # type: ignore[no-untyped-def]
        if marker and marker in fetched.raw:
            os.kill(os.getpid(), signal.SIGKILL)
        return process(fetched, digest, units, specs, **options)

    pipeline.process = dying  # type: ignore[assignment]
    result = app.poll_config(config.load(Path(sys.argv[1])))
    print(result.fetched, result.new)


if __name__ == "__main__":
    main()
