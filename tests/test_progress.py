"""The epoch bar: drawn on a terminal (a pseudo-terminal here), absent from pipes and logs."""
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

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


def test_a_terminal_shows_a_live_bar_within_each_epoch_then_the_epoch_line(tmp_path):
    argv = [str(TRAINLAB), "train", "--preset", "smoke", "--epochs", "2", "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]
    text = run_in_terminal(argv, tmp_path)
    assert "img/s" in text and "/24" in text and "loss " in text        # batches done, speed, running loss
    assert "\r\x1b[2Kepoch 1/2  accuracy" in text                        # the bar cleared, then the epoch's line
    assert text.rstrip().splitlines()[-1].startswith("fit: ")
    piped = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert piped.returncode == 0 and "img/s" not in piped.stdout + piped.stderr and "\x1b[" not in piped.stdout
    assert [line.split()[1] for line in piped.stdout.splitlines() if line.startswith("epoch ")] == ["1/2", "2/2"]
