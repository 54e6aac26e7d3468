"""emotui.train can be named by light code (CLI, launch) without loading torch."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_train_package_does_not_import_torch():
    code = ("import sys; from emotui.train import train, predict, Preempted; "
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
