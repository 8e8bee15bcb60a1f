"""A process writing to a local store, SIGKILLed in the middle of its write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from montemap.storage.local_walk import TMP_PREFIX
from montemap.testing import eventually

WRITER = textwrap.dedent(
    """
    import sys
    from montemap.storage import LocalObjectStore
    store = LocalObjectStore(sys.argv[1])
    bucket, key = sys.argv[3], sys.argv[4]
    if sys.argv[2] == "put":
        print("writing", flush=True)
        store.put_stream(bucket, key, sys.stdin.buffer)  # the pipe never ends
    else:
        upload = store.create_upload(bucket, key)
        print(upload, flush=True)
        store.upload_part(bucket, key, upload, 1, sys.stdin.buffer)
    """
)


def killed_writer(
    root: Path, what: str, written: Path, *, bucket: str, key: str
) -> tuple[int, str]:
    """A process writing ``key`` of ``bucket`` in the store at ``root`` (``what``: ``put``
    or ``part``, an UploadPart of a new upload), killed once its temporary file shows
    under ``written`` (``{line}`` in it: the first line the writer printed, the upload
    id for ``part``). Returns the writer's pid and that line."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), what, bucket, key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert writer.stdin is not None and writer.stdout is not None
        line = writer.stdout.readline().decode().strip()
        writer.stdin.write(b"partial bytes " * 1000)
        writer.stdin.flush()
        where = Path(str(written).format(line=line))
        prefix = TMP_PREFIX if what == "put" else ".part-"
        eventually(
            lambda: [n for n in os.listdir(where) if n.startswith(prefix)],
            timeout=10,
            what="the writer's temporary file",
        )
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        for pipe in (writer.stdin, writer.stdout):
            if pipe is not None:
                pipe.close()
    return writer.pid, line
