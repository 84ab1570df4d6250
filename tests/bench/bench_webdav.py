"""Benchmark: write 100 dossiers of 5 MB to a local WebDAV server through NextcloudStore.

Run ``python tests/bench/bench_webdav.py`` from the repository root. The server
(WsgiDAV under cheroot, ``tests/webdav_server.py``) runs in another process so
that the memory figures are the client's alone. Two ways of handing a dossier
to ``put()`` are measured:

- ``chunks``: a generator of 64 KiB chunks, as a renderer streaming its output
  would; ``put()`` spools it (1 MiB in memory, the rest in a temporary file) and
  streams it with a Content-Length;
- ``bytes``: the whole dossier as one bytes object, as ``render_dossier`` gives
  it today; ``put()`` sends it without copying it.

Peak memory is tracemalloc's peak of Python allocations during the run, and
the growth of ru_maxrss (the process' resident high-water mark). The bench
fails if the peak is not well under what holding every dossier would take.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from connectors.nextcloud import NextcloudStore  # noqa: E402

MiB = 1024 * 1024
CHUNK = 64 * 1024
PASSWORD = "bench-app-password"


def dossier_chunks(number: int, size: int, block: bytes) -> Iterator[bytes]:
    """``size`` bytes that differ from one dossier to the next, made as they are sent."""
    header = f"dossier {number:04d}\n".encode()
    yield header
    left = size - len(header)
    while left > 0:
        piece = block[: min(left, len(block))]
        yield piece
        left -= len(piece)


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.webdav_server",
            str(root),
            "--password",
            PASSWORD,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url:
        process.kill()
        raise SystemExit("the WebDAV server did not start")
    return process, url


def run(mode: str, url: str, count: int, size: int) -> dict[str, float]:
    store = NextcloudStore(f"{url}/bench-{mode}", None, PASSWORD)
    block = os.urandom(CHUNK)
    # Warm up: imports, connection pool, first MKCOL.
    store.put("warm-up.bin", b"x")

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    for number in range(count):
        path = f"candidat-{number:03d}/dossier de preuves.docx"
        if mode == "bytes":
            body: bytes | Iterator[bytes] = b"".join(dossier_chunks(number, size, block))
        else:
            body = dossier_chunks(number, size, block)
        written = store.put(path, body)
        if written.size != size:
            raise SystemExit(f"{path}: wrote {written.size} bytes, expected {size}")
        del body
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    store.close()
    total = count * size
    return {
        "seconds": elapsed,
        "mb_per_s": total / MiB / elapsed,
        "peak_mib": peak / MiB,
        "rss_growth_mib": (rss_after - rss_before) / 1024,  # ru_maxrss is in KiB on Linux
        "total_mib": total / MiB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--size-mb", type=float, default=5.0)
    parser.add_argument("--mode", choices=["chunks", "bytes", "both"], default="both")
    args = parser.parse_args()
    size = int(args.size_mb * 1_000_000)
    modes = ["chunks", "bytes"] if args.mode == "both" else [args.mode]

    with tempfile.TemporaryDirectory(prefix="reperes-bench-") as tmp:
        process, url = start_server(Path(tmp))
        failed = False
        try:
            print(f"{args.count} dossiers of {size / 1e6:g} MB to {url} (WsgiDAV, another process)")
            for mode in modes:
                figures = run(mode, url, args.count, size)
                on_disk = sorted(Path(tmp).glob(f"bench-{mode}/candidat-*/*.docx"))
                # Streaming means a few chunks (or one dossier, for bytes) at a time.
                limit = 4 * MiB if mode == "chunks" else 3 * size
                ok = figures["peak_mib"] * MiB < limit and len(on_disk) == args.count
                failed |= not ok
                print(
                    f"  {mode:6s}: {figures['total_mib']:.0f} MiB in {figures['seconds']:.1f} s"
                    f" = {figures['mb_per_s']:.0f} MiB/s;"
                    f" peak Python memory {figures['peak_mib']:.1f} MiB"
                    f" (limit {limit / MiB:.0f} MiB),"
                    f" ru_maxrss growth {figures['rss_growth_mib']:.1f} MiB;"
                    f" {len(on_disk)} files on the server -> {'OK' if ok else 'TOO MUCH'}"
                )
                for file in on_disk:
                    file.unlink()
        finally:
            process.terminate()
            process.wait(timeout=10)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
