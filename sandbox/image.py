"""The Docker side: is an engine answering, start one, build the (empty) sandbox image.

Nothing can be pulled on these machines, so the image is ``docker import`` of an empty
tar: the container gets the host's Python runtime and the three packages it needs
bind-mounted read-only (see ``runners.DockerRunner``), and nothing else.

``python -m alchemist_engine.sandbox.image [--start-engine]`` builds it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time

from ..labelers import SandboxError

IMAGE = "alchemist-sandbox:1"
DOCKERD_LOG = "/tmp/alchemist-dockerd.log"


def _docker(*args: str, timeout: float = 20, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("docker")
    if exe is None:
        raise SandboxError("the docker CLI is not installed: apt-get install docker.io (or use --runner bwrap)")
    try:
        return subprocess.run([exe, *args], input=input, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"`docker {' '.join(args)}` did not answer in {timeout:.0f} s: is dockerd healthy?") from None


def engine_running() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return _docker("version", "--format", "{{.Server.Version}}", timeout=10).returncode == 0
    except SandboxError:
        return False


def ensure_engine(timeout: float = 60.0) -> None:
    """Make sure a Docker engine answers; start ``dockerd`` in the background if we are root."""
    if engine_running():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        raise SandboxError(
            "no Docker engine answers: start it (`sudo dockerd > /tmp/dockerd.log 2>&1 &`) "
            "or use --runner bwrap"
        )
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen([dockerd], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if engine_running():
            return
        time.sleep(0.5)
    raise SandboxError(f"started dockerd but it did not answer within {timeout:.0f} s; see {DOCKERD_LOG}")


def image_exists(tag: str = IMAGE) -> bool:
    return engine_running() and _docker("image", "inspect", tag).returncode == 0


def ensure_image(tag: str = IMAGE) -> str:
    """Build the empty sandbox image if it is missing (idempotent); returns its tag."""
    if not engine_running():
        raise SandboxError("no Docker engine answers: run `alchemist-engine sandbox-image --start-engine` as root, or start dockerd")
    if _docker("image", "inspect", tag).returncode == 0:
        return tag
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass  # an empty root filesystem; everything is bind-mounted read-only at run time
    res = _docker("import", "-", tag, input=buf.getvalue(), timeout=60)
    if res.returncode != 0:
        raise SandboxError(f"building {tag} failed: {res.stderr.decode(errors='replace').strip()}")
    return tag


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--start-engine" in args:
        ensure_engine()
    print(ensure_image())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
