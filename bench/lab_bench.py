"""Lab timings: base image build (cold, optional), `lab up` of 3 nodes (warm image), `lab down`.

Run as root:  python bench/lab_bench.py [--cold] [--runs N]
--cold builds the image from nothing in a temporary cache dir (about 80 s, downloads ~60 MB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(func: Callable[[], object]) -> float:
    start = time.monotonic()
    func()
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="also time a fresh image build")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="halab-bench-") as tmp:
        os.environ["HALAB_STATE_DIR"] = str(Path(tmp) / "state")
        from halab.lab import image, lab
        from halab.lab.deps import check_host

        check_host()
        if args.cold:
            os.environ["HALAB_CACHE_DIR"] = str(Path(tmp) / "cache")
            print(f"image build (cold): {timed(image.ensure_image):.1f} s", flush=True)
        else:
            image.ensure_image()
        ups, downs = [], []
        for _ in range(args.runs):
            spec = lab.generic_lab("bench", 3)
            ups.append(timed(lambda spec=spec: lab.up(spec, say=lambda _m: None)))
            downs.append(timed(lambda: lab.down("bench")))
            print(f"up 3 nodes: {ups[-1]:.2f} s   down: {downs[-1]:.2f} s", flush=True)
        print(
            f"median of {args.runs}: up {statistics.median(ups):.2f} s (goal <= 20 s), "
            f"down {statistics.median(downs):.2f} s (goal <= 10 s)"
        )


if __name__ == "__main__":
    main()
