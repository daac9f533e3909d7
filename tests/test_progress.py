"""The epoch bar: drawn on a terminal (a pseudo-terminal here), absent from pipes and logs."""
import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import fresh_store
from trainlab.pipeline import progress

TRAINLAB = Path(sys.executable).with_name("trainlab")


def run_in_terminal(argv, cwd, timeout=180) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, start_new_session=True,
                            env={**os.environ, "TERM": "xterm"})
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                raise AssertionError(f"no output for {timeout}s")
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        proc.wait(60)
        os.close(master)
    return out.decode(errors="replace")


@pytest.mark.slow
def test_a_terminal_shows_a_live_bar_within_each_epoch_then_the_epoch_line(tmp_path):
    argv = [str(TRAINLAB), "train", "--preset", "smoke", "--epochs", "2",
            "--tracking-uri", fresh_store(tmp_path, "m.db")]
    text = run_in_terminal(argv, tmp_path)
    assert "img/s" in text and "/24" in text and "loss " in text        # batches done, speed, running loss
    assert "\r\x1b[2Kepoch 1/2  accuracy" in text                        # the bar cleared, then the epoch's line
    assert text.rstrip().splitlines()[-1].startswith("run ")                # the command's final line
    from click.testing import CliRunner  # not a terminal: no bar (in this process: no second start-up to pay)

    from trainlab.pipeline.cli import cli
    piped = CliRunner().invoke(cli, argv[1:])
    assert piped.exit_code == 0 and "img/s" not in piped.output and "\x1b[" not in piped.output, piped.output
    assert [line.split()[1] for line in piped.output.splitlines() if line.startswith("epoch ")] == ["1/2", "2/2"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bars_nest_in_one_display_and_go_when_done(monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("TRAINLAB_QUIET", raising=False)
    with progress.bar("points", 2) as outer:
        with progress.bar("decoding images", 3, unit="files") as inner:
            for _ in range(3):
                inner()
                time.sleep(0.15)   # rich redraws ten times a second
        outer(note="a: FINISHED")
        time.sleep(0.25)
        outer()
    shown = tty.getvalue()
    assert "points" in shown and "decoding images" in shown and "files/s" in shown and "a: FINISHED" in shown
    assert progress._display is None               # the one live display is down again


def test_no_bar_off_a_terminal_or_when_quiet(monkeypatch):
    for stream, quiet in ((io.StringIO(), ""), (Terminal(), "1")):
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setenv("TRAINLAB_QUIET", quiet)
        with progress.bar("points", 1) as advance:
            advance()
        assert stream.getvalue() == ""
