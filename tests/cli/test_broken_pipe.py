"""A reader that goes away (``postwarden explain … | head -1``) ends the command quietly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "argv",
    [["explain", "535 5.7.8 Username and Password not accepted"], ["--help"], ["explain", "--help"]],
)
def test_a_closed_standard_output_ends_the_command_without_a_word(argv: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "postwarden", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode in (0, 141)
