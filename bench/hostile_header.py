"""What the reported poison mail costs to read: a 2.3 MB mail with a 1 MB subject.

Header decoding in `email` (policy.default) costs memory quadratic in a header's length.
This parses hostile mails (tests/hostile_headers.py) with mime.parse in a child process
under RLIMIT_AS and prints CPU seconds and peak RSS for each. With --root pointing at an
old checkout, it measures that code instead (before the caps: 512 KB subject, 2.1 GB;
1 MB, MemoryError at a 6 GiB limit).

    python bench/hostile_header.py [--limit-gib 4] [--root PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

import hostile_headers as hm  # noqa: E402

CASES = {
    "subject 128 KB": lambda: hm.poison_subject(128 * 1024),
    "subject 512 KB": lambda: hm.poison_subject(512 * 1024),
    "subject 1 MB (2.3 MB mail)": hm.poison_subject,
    "From 1 MB": hm.huge_from,
    "filename 1 MB": hm.huge_filename,
    "100k header fields": hm.many_fields,
    "50k MIME parts": hm.many_parts,
    "5000 nested message/rfc822": hm.deep_nesting,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-gib", type=float, default=4.0)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose mime to measure")
    args = parser.parse_args()
    hm.ROOT = args.root
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in CASES.items():
            raw = build()
            try:
                out = hm.parse_limited(raw, Path(tmp), limit=int(args.limit_gib * hm.GIB))
                shown = f"{out['cpu']:6.2f} s CPU  {out['peak_mb']:7.0f} MB peak"
            except AssertionError as exc:
                shown = f"died: {str(exc).strip().splitlines()[-1][:60]}"
            except subprocess.TimeoutExpired:
                shown = "still running after 120 s: stopped"
            print(f"{name:28} {len(raw) / 1e6:6.2f} MB  {shown}")


if __name__ == "__main__":
    main()
