"""The atheris fuzzer, bounded: 100,000 coverage-guided inputs through decoder and engine.

``tests/fuzz/atheris_decode.py`` is the harness (run it longer by hand); a
crash there (any exception but DecodeError) makes it exit non-zero with the
input, and this test fails with its output. atheris is a dev dependency on
Linux x86-64 (wheels for CPython 3.11-3.13).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .conftest import TRIED

HARNESS = Path(__file__).with_name("atheris_decode.py")
RUNS = 100_000


def test_atheris_finds_no_crash_in_the_decoder_and_engine(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    proc = subprocess.run(
        [sys.executable, str(HARNESS), f"-runs={RUNS}", "-seed=7", "-max_len=4096"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # a crash writes crash-<sha1> here, not into the checkout
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert f"Done {RUNS} runs" in out, out[-2000:]
    decoded = int(re.findall(r"inputs \d+, decoded (\d+)", out)[-1])
    assert decoded > RUNS // 100  # the engine was reached, not just the JSON parser
    print(f"atheris: {RUNS:,} inputs, {decoded:,} decoded and run through the engine")
    TRIED["atheris coverage-guided (decoder + engine)"] += RUNS
