"""Run datadiet's Flower App the way Flower users do: ``flwr run`` on the local simulation engine
(``run_local_simulation``), or on a real local federation, one SuperLink and N SuperNodes on 127.0.0.1
(``run_local_federation``):

    python -m datadiet.federated.deploy --method diff2 --clients 3 --rounds 2 --epsilon 1 --out result.json
    python -m datadiet.federated.deploy --simulation --method diff2 --clients 3 --rounds 2

The simulation launch is plain ``flwr run APP --federation-config "num-supernodes=N"`` against the "local"
connection (Flower starts a local SuperLink in simulation mode on its own); it gets its own ``FLWR_HOME`` and free
ports (``FLWR_LOCAL_SUPERLINK_HTTP_API_PORT``, ``FLWR_LOCAL_CONTROL_API_PORT``) so launches never share a
SuperLink, and that SuperLink is stopped afterwards.

This is Flower's deployment runtime, not its simulation: ``flower-superlink`` and one ``flower-supernode`` per
client run as separate processes talking HTTP on 127.0.0.1 (``--insecure``, free ports), every SuperNode started
with ``--node-config "partition-id=P num-partitions=N"``. ``flwr run --stream`` submits the App folder
(``examples/flower-federation``); the SuperLink's SuperExec starts ``flwr-serverapp`` and each SuperNode's
SuperExec starts a ``flwr-clientapp`` process per round. The ServerApp writes its result JSON atomically to the
run config's ``out``; this launcher waits for the run, reads that file, and always stops every process it
started. Logs go to a temporary folder, kept (and named in the error) when something fails.

flwr >= 1.41 keeps SuperLink connections in ``$FLWR_HOME/config.toml`` (not in the App's pyproject), so each
launch gets its own ``FLWR_HOME`` inside the log folder; telemetry and the update check are switched off, so
nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, MissingDependencyError
from .run import DP_METHODS  # noqa: F401  (re-exported for callers)

HOST = "127.0.0.1"
CONNECTION = "datadiet-local"  # the SuperLink connection's name in $FLWR_HOME/config.toml
_TAIL_LINES = 30
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Flower colours its log levels


class FederationError(RuntimeError):
    """A process of the local federation failed; the message names it and ends with its log's tail."""


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    log: Path


def flower_methods() -> tuple[str, ...]:
    """The methods with Flower adapters (``datadiet.federated.flower``): DIFF2/DP-GD and the sub-model family."""
    from .hetero import METHODS as HETERO_METHODS

    return DP_METHODS + HETERO_METHODS


def default_app_dir() -> Path:
    """``examples/flower-federation`` of the source checkout this package was imported from."""
    return Path(__file__).resolve().parents[3] / "examples" / "flower-federation"


def run_local_federation(method: str, *, clients: int, rounds: int, epsilon: float | None, seed: int = 0,
                         app_dir: str | os.PathLike | None = None, timeout: float = 600.0,
                         workdir: str | os.PathLike | None = None, noise: str = "central",
                         reproducible: bool = False, problem: str = "logreg", dataset: str = "digits") -> dict:
    """Run ``method`` on a SuperLink + ``clients`` SuperNodes on 127.0.0.1; return what ``run_method`` returns.

    Parameters
    ----------
    method : one of diff2, dpgd, scalablefl, heterofl, fedavg, fedbn, fedper
    clients, rounds, epsilon, seed : as for ``run_method`` (``epsilon=None``: no privacy for diff2/dpgd)
    app_dir : the Flower App folder, default ``examples/flower-federation`` of the source checkout
    timeout : seconds for the whole launch (start-up, all rounds, result); the processes are stopped after it
    workdir : folder for the logs, ``FLWR_HOME`` and the result; default a fresh temporary folder, removed on
        success and kept on failure

    Returns
    -------
    dict with "metrics" (test_accuracy; grad_norm_sq and epsilon for diff2/dpgd), evaluated on the clients,
    and "details" (the final model from ``Result.arrays``, z1/z2, the run config).
    """
    app, work, out, overrides = _prepare(method, clients, rounds, epsilon, seed, noise, reproducible, problem,
                                         dataset, app_dir, workdir)
    result = _launch(app, work, clients, overrides, timeout)
    if workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return result


def run_local_simulation(method: str, *, clients: int, rounds: int, epsilon: float | None, seed: int = 0,
                         noise: str = "central", reproducible: bool = False, problem: str = "logreg",
                         dataset: str = "digits", app_dir: str | os.PathLike | None = None,
                         timeout: float = 900.0, workdir: str | os.PathLike | None = None) -> dict:
    """``flwr run APP --federation-config "num-supernodes=<clients>"`` on Flower's local simulation engine.

    Same arguments and return value as ``run_local_federation``; Flower itself starts the local SuperLink
    (simulation mode, Ray backend) and N simulated SuperNodes with partition-id 0..N−1.
    """
    app, work, out, overrides = _prepare(method, clients, rounds, epsilon, seed, noise, reproducible, problem,
                                         dataset, app_dir, workdir)
    deadline = time.monotonic() + timeout
    home = work / "flwr-home"
    http_port, control_port = _free_ports(2)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(_toml({"superlink": {"default": "local", "local": {"address": ":local:"}}}),
                                      encoding="utf-8")
    (work / "run-config.toml").write_text(_toml(overrides), encoding="utf-8")
    env = _env(home)
    env.update(FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=str(http_port), FLWR_LOCAL_CONTROL_API_PORT=str(control_port))
    procs: list[_Proc] = []
    try:
        runner = _start("flwr run", [_flwr_bin("flwr"), "run", str(app), "--stream", "--run-config",
                                     str(work / "run-config.toml"), "--federation-config",
                                     f"num-supernodes={clients}"], work, env)
        procs.append(runner)
        _wait_for_run(runner, [], deadline, timeout)
        result = _read_result(out, runner, env, work, connection="local")
    finally:
        _stop(procs, home)
    if workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _prepare(method, clients, rounds, epsilon, seed, noise, reproducible, problem, dataset, app_dir, workdir):
    """Check the arguments before anything starts; the App folder, work folder, result path, run config."""
    from .dp import NOISE_MODES

    methods = flower_methods()
    if method not in methods:
        raise InputError(f"--method must be one of {', '.join(methods)} (got {method!r}); the others have no "
                         "Flower adapter")
    if clients < 1 or rounds < 1:
        raise InputError(f"--clients and --rounds must be >= 1 (got {clients} and {rounds})")
    if epsilon is not None and not epsilon > 0:
        raise InputError(f"--epsilon must be > 0 (got {epsilon})")
    if noise not in NOISE_MODES:
        raise InputError(f"--noise must be one of {', '.join(NOISE_MODES)} (got {noise!r})")
    app = Path(app_dir) if app_dir is not None else default_app_dir()
    if not (app / "pyproject.toml").is_file():
        raise InputError(f"no Flower App at {app} (pyproject.toml missing); pass --app pointing at "
                         "examples/flower-federation of the datadiet repository")
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="datadiet-flower-"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "result.json"
    out.unlink(missing_ok=True)  # a reused folder must not hand back an earlier run's result
    overrides = {"method": method, "num-server-rounds": rounds, "clients": clients,
                 "epsilon": float(epsilon) if epsilon is not None else 0.0, "seed": seed, "noise": noise,
                 "reproducible": bool(reproducible), "problem": problem, "dataset": dataset,
                 "out": str(out.resolve())}
    return app.resolve(), work.resolve(), out, overrides


def _launch(app: Path, work: Path, clients: int, overrides: dict, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    home = work / "flwr-home"
    link_port, *node_ports = _free_ports(1 + clients)
    _write_flower_config(home, link_port)
    (work / "run-config.toml").write_text(_toml(overrides), encoding="utf-8")
    env = _env(home)
    procs: list[_Proc] = []
    try:
        link = _start("SuperLink", [_flwr_bin("flower-superlink"), "--insecure", "--host", HOST, "--port",
                                    str(link_port), "--disable-runtime-dependency-installation"], work, env)
        procs.append(link)
        # SuperNodes start alongside the SuperLink (they retry until it listens): their start-up (imports,
        # ~5-10 s each on two cores) then overlaps the SuperLink's instead of following it.
        for p, port in enumerate(node_ports):
            procs.append(_start(f"SuperNode {p}", [
                _flwr_bin("flower-supernode"), "--insecure", "--superlink", f"{HOST}:{link_port}", "--host", HOST,
                "--port", str(port), "--node-config", f"partition-id={p} num-partitions={clients}"], work, env))
        _wait_listening(link, link_port, deadline)
        # `--stream` blocks until the run finishes, and the ServerApp's own output (tracebacks too) ends up in
        # this log; the ServerApp waits for all SuperNodes to register before its first round.
        runner = _start("flwr run", [_flwr_bin("flwr"), "run", str(app), CONNECTION, "--stream",
                                     "--run-config", str(work / "run-config.toml")], work, env)
        procs.append(runner)
        _wait_for_run(runner, procs[:-1], deadline, timeout)
        return _read_result(Path(overrides["out"]), runner, env, work)
    finally:
        _stop(procs, home)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (all sockets held open together, so no port repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _toml(values: dict) -> str:
    import tomli_w  # a dependency of flwr

    return tomli_w.dumps(values)


def _write_flower_config(home: Path, link_port: int) -> None:
    """flwr >= 1.41 reads SuperLink connections from $FLWR_HOME/config.toml (`flwr run APP CONNECTION`)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(_toml({"superlink": {
        "default": CONNECTION, CONNECTION: {"address": f"{HOST}:{link_port}", "insecure": True}}}),
        encoding="utf-8")


def _env(home: Path) -> dict:
    env = dict(os.environ)
    # SuperLink and SuperNodes start flower-superexec, flwr-serverapp and flwr-clientapp by name: put this
    # interpreter's scripts first on PATH so they run in the same environment as datadiet.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(FLWR_HOME=str(home), FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1",
               PYTHONUNBUFFERED="1")
    return env


def _flwr_bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found is None:
        raise MissingDependencyError("flwr", "federated", f"a local Flower federation ({name})")
    return found


def _start(name: str, cmd: list[str], work: Path, env: dict) -> _Proc:
    log = work / (re.sub(r"\W+", "-", name.lower()).strip("-") + ".log")
    with open(log, "wb") as fh:
        # a new session per process: stopping it signals its whole group (its SuperExec and App processes)
        popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, cwd=work,
                                 env=env, start_new_session=True)
    return _Proc(name, popen, log)


def _tail(path: Path, n: int = _TAIL_LINES) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + _ANSI.sub("", ln) for ln in lines[-n:])


def _failure(proc: _Proc, what: str) -> FederationError:
    return FederationError(f"{proc.name} {what}; last lines of {proc.log}:\n{_tail(proc.log)}")


def _check_alive(procs: list[_Proc]) -> None:
    for p in procs:
        if (rc := p.popen.poll()) is not None:
            raise _failure(p, f"exited with code {rc} before the run finished")


def _wait_listening(proc: _Proc, port: int, deadline: float) -> None:
    while True:
        _check_alive([proc])
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise _failure(proc, f"did not listen on {HOST}:{port} in time") from None
            time.sleep(0.1)


def _wait_for_run(runner: _Proc, infra: list[_Proc], deadline: float, timeout: float) -> None:
    while runner.popen.poll() is None:
        _check_alive(infra)
        if time.monotonic() > deadline:
            raise _failure(runner, f"did not finish within {timeout:.0f} s (rounds still running)")
        time.sleep(0.2)
    if runner.popen.returncode != 0:
        raise _failure(runner, f"exited with code {runner.popen.returncode}")


def _read_result(out: Path, runner: _Proc, env: dict, work: Path, connection: str = CONNECTION) -> dict:
    if out.is_file():
        return json.loads(out.read_text(encoding="utf-8"))
    status = _run_status(runner.log, env, work, connection)
    raise _failure(runner, f"finished (status {status}) but the ServerApp wrote no result to {out}")


def _run_status(log: Path, env: dict, work: Path, connection: str = CONNECTION) -> str:
    """The run's final status from the SuperLink (e.g. finished:failed), for the error message."""
    m = re.search(r"Successfully started run (\d+)", log.read_text(encoding="utf-8", errors="replace"))
    if m is None:
        return "unknown: the run never started"
    try:
        res = subprocess.run([_flwr_bin("flwr"), "ls", connection, "--run-id", m.group(1), "--format", "json"],
                             capture_output=True, text=True, env=env, cwd=work, timeout=60)
        run = json.loads(res.stdout)["runs"][0]
        return f"{run['status']}, {run['status-details']}"
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return "unknown"


def _stop(procs: list[_Proc], home: Path, grace: float = 5.0) -> None:
    """Stop every started process group, then any process still carrying this launch's FLWR_HOME.

    SuperLink detaches its SuperExec into a session of its own (and that one starts flwr-serverapp), so
    signalling our groups is not enough; every descendant inherits our environment, which identifies them.
    """
    for p in reversed(procs):
        if p.popen.poll() is None:
            _signal_group(p.popen.pid, signal.SIGTERM)
    end = time.monotonic() + grace
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(p.popen.pid, signal.SIGKILL)
            p.popen.wait()
    end = time.monotonic() + grace
    while (strays := launched_pids(home)) and time.monotonic() < end:
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # exited meanwhile
                pass
        time.sleep(0.05)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:  # the group is already gone
        pass


def launched_pids(home: str | os.PathLike) -> list[int]:
    """PIDs of live processes whose environment has ``FLWR_HOME=home`` (those this launch started).

    Needs psutil (installed with ``flwr[simulation]``); without it, returns [] and only the process groups are
    stopped.
    """
    try:
        import psutil
    except ImportError:
        return []
    want, pids = str(Path(home).resolve()), []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get("FLWR_HOME") == want and proc.status() != "zombie":
                pids.append(proc.pid)
        except (psutil.Error, OSError):  # other users' processes, or gone meanwhile
            continue
    return pids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m datadiet.federated.deploy", description=__doc__.split("\n")[0])
    ap.add_argument("--method", default="diff2", choices=flower_methods())
    ap.add_argument("--clients", type=int, default=3, help="number of SuperNodes (one per partition)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epsilon", type=float, default=1.0, help="target ε for diff2/dpgd; 0 = no privacy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", default="central", choices=("central", "local"))
    ap.add_argument("--reproducible", action="store_true", help="seeded noise: repeatable, NOT private")
    ap.add_argument("--simulation", action="store_true",
                    help="flwr run on Flower's local simulation engine instead of a SuperLink + SuperNodes")
    ap.add_argument("--app", default=None, help="Flower App folder (default: examples/flower-federation)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole launch")
    ap.add_argument("--logs", default=None, help="keep logs, FLWR_HOME and result.json in this folder")
    ap.add_argument("--out", default=None, help="also write the result JSON here")
    a = ap.parse_args(argv)
    try:
        launch = run_local_simulation if a.simulation else run_local_federation
        res = launch(a.method, clients=a.clients, rounds=a.rounds, epsilon=a.epsilon if a.epsilon > 0 else None,
                     seed=a.seed, app_dir=a.app, timeout=a.timeout, workdir=a.logs, noise=a.noise,
                     reproducible=a.reproducible)
    except (InputError, MissingDependencyError, FederationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, (InputError, MissingDependencyError)) else 1
    if a.out:
        from ..io import write_json

        write_json(res, a.out)
    print(json.dumps(res["metrics"], sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
