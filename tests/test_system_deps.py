"""tests/system_deps.sh waits for another apt instead of failing at once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).with_name("system_deps.sh")

FAKE_APT = """#!/bin/bash
echo "$*" >> "$CALLS"
n=$(grep -c . "$CALLS")
if [ "$n" -le 2 ]; then
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)"
  exit 100
fi
exit 0
"""


def test_system_deps_waits_for_the_apt_lock(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ls", "grep", "tail", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    # Root, nothing installed (chromium and the others are not on this PATH), no real wait.
    (bin_dir / "id").write_text("#!/bin/bash\necho 0\n")
    (bin_dir / "sleep").write_text("#!/bin/bash\nexit 0\n")
    (bin_dir / "apt-get").write_text(FAKE_APT)
    for name in ("id", "sleep", "apt-get"):
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {"PATH": str(bin_dir), "CALLS": str(calls), "REPERES_APT_LOG": str(tmp_path / "log"),
           "HOME": str(tmp_path)}
    bash = shutil.which("bash")
    assert bash
    done = subprocess.run([bash, str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    # Refused twice for the lock, then update and install went through.
    assert [line.split()[2] for line in lines] == ["update", "update", "update", "install"]
    assert all(line.startswith("-o DPkg::Lock::Timeout=") for line in lines)
    assert "waiting" in done.stderr
    assert os.path.exists(tmp_path / "log")
