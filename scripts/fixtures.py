#!/usr/bin/env python3
"""Regenerates the compressed bodies the fault server sends
(crates/gather-pageserver/fixtures), or checks the checked-in ones.

    python3 scripts/fixtures.py           # write them
    python3 scripts/fixtures.py --check   # exit 1 if any differs

Every file comes from the reference encoders, deterministically: Python's
gzip (mtime 0) and zlib, the brotli reference encoder's bindings (`brotli`
from PyPI) and the zstd command line (`zstd -19`, Debian's `zstd`). The
`brotli` module is installed into a virtual environment under target/ on
first use; nothing is installed outside it.
"""

import gzip
import os
import subprocess
import sys
import tempfile
import venv
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "crates", "gather-pageserver", "fixtures")
VENV = os.path.join(ROOT, "target", "fixtures-venv")


def page_text() -> bytes:
    """400 numbered lines, each with a number that changes the line."""
    return "".join(
        f"line {i}: the quick brown fox jumps over the lazy dog {i * 7919 % 10007}\n"
        for i in range(400)
    ).encode()


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def brotli_compress(data: bytes) -> bytes:
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        venv.create(VENV, with_pip=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "brotli"], check=True)
    return subprocess.run(
        [python, "-c", "import brotli, sys; sys.stdout.buffer.write(brotli.compress(sys.stdin.buffer.read()))"],
        input=data, capture_output=True, check=True,
    ).stdout


def zstd_compress(data: bytes) -> bytes:
    # From a file, not stdin: the frame then records the content size.
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return subprocess.run(["zstd", "-q", "-19", "-c", f.name], capture_output=True, check=True).stdout


def fixtures() -> dict:
    text = page_text()
    return {
        "page.txt": text,
        "page.gz": gzip.compress(text, mtime=0),
        "page.zlib": zlib.compress(text),
        "page.deflate": raw_deflate(text),
        "page.zst": zstd_compress(text),
        "page.br": brotli_compress(text),
        # 10 MiB of zeros in ~10 KiB: --max-bytes on the decoded size.
        "bomb.gz": gzip.compress(bytes(10 << 20), mtime=0),
    }


def main() -> int:
    check = "--check" in sys.argv[1:]
    differ = []
    for name, data in fixtures().items():
        path = os.path.join(FIXTURES, name)
        if check:
            with open(path, "rb") as f:
                if f.read() != data:
                    differ.append(name)
        else:
            with open(path, "wb") as f:
                f.write(data)
    if differ:
        print("differ from what the encoders make now:", ", ".join(differ), file=sys.stderr)
        return 1
    print("checked" if check else "written", len(fixtures()), "fixtures in", FIXTURES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
