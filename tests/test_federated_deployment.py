"""The local-deployment launcher (SuperLink + SuperNodes, ``deploy.run_local_federation``) without Flower's
processes: failure messages, clean-up, input checks. A full deployment run costs about two minutes on two cores,
so the suite runs Flower once, on the local simulation (tests/test_federated_flower.py); docs/federated.md
gives the deployment command and its measured output.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'datadiet[federated]'")


def test_failed_process_is_named_with_its_log_tail(tmp_path):
    from datadiet.federated.deploy import FederationError, _check_alive, _start

    p = _start("SuperNode 1", [sys.executable, "-c", "print('first'); print('boom: no SuperLink'); raise SystemExit(3)"],
               tmp_path, {"PATH": ""})
    p.popen.wait()
    with pytest.raises(FederationError) as err:
        _check_alive([p])
    msg = str(err.value)
    assert msg.startswith("SuperNode 1 exited with code 3 before the run finished; last lines of ")
    assert str(tmp_path / "supernode-1.log") in msg
    assert msg.splitlines()[-2:] == ["    first", "    boom: no SuperLink"]


def test_stop_ends_the_process_group_and_detached_descendants(tmp_path):
    pytest.importorskip("psutil")
    from datadiet.federated.deploy import _start, _stop, launched_pids

    home = tmp_path / "flwr-home"
    env = {"FLWR_HOME": str(home), "PATH": "/usr/bin:/bin"}
    # a child in the same group (like a SuperNode's SuperExec) and one in a new session (like SuperLink's)
    script = ("import subprocess, sys, time\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
              "print('ready', flush=True); time.sleep(120)\n")
    p = _start("SuperLink", [sys.executable, "-c", script], tmp_path, env)
    for _ in range(200):
        if len(launched_pids(home)) == 3:
            break
        subprocess.run(["sleep", "0.05"])
    assert len(launched_pids(home)) == 3
    _stop([p], home)
    assert p.popen.returncode == -signal.SIGTERM
    assert launched_pids(home) == []


def test_bad_inputs_are_rejected_before_anything_starts(tmp_path):
    from datadiet.errors import InputError
    from datadiet.federated.deploy import run_local_federation
    from datadiet.federated.run import METHODS

    with pytest.raises(InputError, match="no Flower App at"):
        run_local_federation("diff2", clients=3, rounds=2, epsilon=1.0, app_dir=tmp_path)
    with pytest.raises(InputError, match=r"--method must be one of .*\(got 'sgd'\)"):
        run_local_federation("sgd", clients=3, rounds=2, epsilon=1.0)
    if "dpsgd" in METHODS:  # an in-process-only baseline: no Flower adapter
        with pytest.raises(InputError, match="no Flower adapter"):
            run_local_federation("dpsgd", clients=3, rounds=2, epsilon=1.0)
    assert list(tmp_path.iterdir()) == []
