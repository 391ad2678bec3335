"""Start and stop a lab: the Go vCenter simulator with the scenario loaded, and the SSH endpoints.

:func:`start_lab` is the API tests and ``vvolguard lab`` share. It builds the scenario
(:mod:`.spec`), writes the lab folder (layout below), starts the simulator (TLS from the lab's
CA, the login passed in its environment, never in a file or on its command line) and one SSH
server per host, and yields a :class:`LabInfo`. Leaving the ``with`` block stops everything
and, for a folder it created, removes it.

Lab folder::

    ca.pem  vcenter.pem  vcenter-key.pem      TLS: clients trust ca.pem
    lab-spec.json                            what the Go simulator loads (no secret in it)
    ssh/config  ssh/known_hosts  ssh/id_ed25519(.pub)   the client side of the SSH endpoints
    provider/provider.pem, provider-key.pem  the simulated VASA provider's certificate and key
    hosts/<short>/var/run/log/vvold.log ...  each host's files (vvold.log grows as VMs move)
    hosts/<short>/commands/*.txt, json/*.json   its esxcli outputs
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from vvolguard.drain.vcsim.build import build
from vvolguard.lab.provider import serve_provider
from vvolguard.lab.spec import LabScenario, build_scenario
from vvolguard.lab.ssh import (
    SshEndpoints,
    SshHost,
    free_port,
    known_hosts_text,
    reserve_port,
    ssh_config_text,
    write_host_tree,
)
from vvolguard.lab.tls import write_lab_tls

DEFAULT_USER = "lab-reader@vsphere.local"
#: The second user, made when privileges are missing: it lacks them, the first user does not.
LIMITED_USER = "lab-limited@vsphere.local"
SSH_USER = "root"
#: Privileges the ``missing_privileges`` knob accepts (what collect/validate need beyond read).
KNOWN_PRIVILEGES = (
    "System.View",
    "Global.Diagnostics",
    "Sessions.TerminateSession",
    "StorageViews.View",
    "Resource.HotMigrate",
    "Host.Config.Maintenance",
)
#: Seconds a relocation takes in the lab, and until a saturated one fails.
RELOCATE_SECONDS = 2.0
FAIL_SECONDS = 1.0


class LabError(RuntimeError):
    """The lab cannot start; the message says why and what to install or change."""


class LabOptionError(LabError, ValueError):
    """An option names something the lab does not have (scenario, host, privilege)."""


@dataclass(frozen=True)
class LabInfo:
    """What a client needs (``as_json``: the ``--json`` line of ``vvolguard lab``)."""

    url: str
    user: str
    password: str
    ca_file: str
    ssh_config: str
    hosts: list[str]
    scenario: str
    expected_class: str
    folder: str
    sms_url: str
    window: tuple[str, str] = ("", "")
    ssh_ports: dict[str, int] = field(default_factory=dict)
    limited_user: str = ""  # empty unless privileges are missing
    limited_password: str = ""
    missing: tuple[str, ...] = ()
    providers: dict[str, str] = field(default_factory=dict)  # provider URL -> 127.0.0.1:port

    @property
    def port(self) -> int:
        return int(self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    def host_root(self, host: str) -> Path:
        """The folder the host's SSH endpoint serves as ``/`` (tests read vvold.log there)."""
        return Path(self.folder) / "hosts" / host.split(".", 1)[0]

    def as_json(self) -> str:
        keys = (
            "url",
            "user",
            "password",
            "ca_file",
            "ssh_config",
            "hosts",
            "scenario",
            "sms_url",
            "providers",
        )
        data = asdict(self)
        out = {k: data[k] for k in keys}
        if self.limited_user:
            out |= {
                "limited_user": self.limited_user,
                "limited_password": self.limited_password,
                "missing_privileges": list(self.missing),
            }
        return json.dumps(out)


@dataclass
class _Running:
    proc: subprocess.Popen[str]
    ssh: SshEndpoints
    stderr: list[str]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _ssh_side(folder: Path, hosts: list[str], refused: set[str]) -> tuple[list[SshHost], str, Path]:
    ssh_dir = folder / "ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    client = asyncssh.generate_private_key("ssh-ed25519", comment="vvolguard-lab")
    identity = ssh_dir / "id_ed25519"
    _write_private(identity, client.export_private_key("openssh"))
    public = client.export_public_key("openssh").decode()
    (ssh_dir / "id_ed25519.pub").write_text(public)
    ssh_hosts = []
    for h in hosts:
        sock = None if h in refused or h.split(".", 1)[0] in refused else reserve_port()
        ssh_hosts.append(
            SshHost(
                name=h,
                root=folder / "hosts" / h.split(".", 1)[0],
                port=free_port() if sock is None else int(sock.getsockname()[1]),
                host_key=asyncssh.generate_private_key("ssh-ed25519"),
                refused=sock is None,
                sock=sock,
            )
        )
    known = ssh_dir / "known_hosts"
    known.write_text(known_hosts_text(ssh_hosts))
    (ssh_dir / "config").write_text(ssh_config_text(ssh_hosts, SSH_USER, identity, known))
    return ssh_hosts, public, ssh_dir / "config"


def _start_vcsim(
    binary: Path, folder: Path, scenario: LabScenario, port: int, logins: dict[str, str]
) -> tuple[subprocess.Popen[str], dict[str, Any], list[str]]:
    tls = write_lab_tls(folder)
    spec_file = folder / "lab-spec.json"
    spec_file.write_text(json.dumps(scenario.spec, indent=1))
    args = [
        str(binary),
        "-exit-on-stdin-eof",
        f"-lab={spec_file}",
        f"-port={port}",
        f"-tls-cert={tls.cert_file}",
        f"-tls-key={tls.key_file}",
        f"-vvold-dir={folder / 'hosts'}",
        f"-relocate-seconds={RELOCATE_SECONDS}",
        f"-fail-seconds={FAIL_SECONDS}",
        f"-ceiling={scenario.ceiling}",
        f"-provider-busy={scenario.busy}",
        f"-provider-down={'true' if scenario.provider_down else 'false'}",
    ]
    env = dict(os.environ) | logins
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=120)
    if not lines or not lines[0].strip():
        proc.kill()
        raise LabError(f"the vCenter simulator did not start: {proc.stderr.read()[-2000:]}")
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    return proc, json.loads(lines[0]), stderr


def _stop(running: _Running) -> None:
    if os.environ.get("VVOLGUARD_LAB_DEBUG"):
        print("".join(running.stderr))
    running.ssh.stop()
    proc = running.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def start_lab(
    scenario: str = "saturation",
    *,
    port: int = 0,
    seed: int = 1,
    variant: str | None = None,
    folder: str | Path | None = None,
    user: str = DEFAULT_USER,
    ssh_refused: Sequence[str] = (),
    sms_down: bool = False,
    missing_privileges: Sequence[str] = (),
    provider_ceiling: int | None = None,
    provider_busy: int | None = None,
) -> Iterator[LabInfo]:
    """Run a lab of ``scenario`` for the ``with`` block; yields its :class:`LabInfo`.

    Fault knobs: ``ssh_refused`` (host names, full or short: nothing listens on their SSH port),
    ``sms_down`` (``/sms/sdk`` answers 503), ``missing_privileges`` (the user lacks these; calls
    that need them answer ``NoPermission``), ``provider_ceiling`` (VASA operations in flight the
    provider sustains for migrations started against the lab) and ``provider_busy`` (how many of
    them other work holds); both default to the scenario's (saturation: 5 and 4), and a ceiling
    given without ``provider_busy`` has none held.
    """
    unknown = [p for p in missing_privileges if p not in KNOWN_PRIVILEGES]
    if unknown:
        raise LabOptionError(
            f"unknown privilege(s) {', '.join(unknown)}; known: {', '.join(KNOWN_PRIVILEGES)}"
        )
    try:
        binary = build()
    except Exception as exc:  # VcsimBuildError and OSError: both mean "cannot run the simulator"
        raise LabError(str(exc)) from exc
    try:
        lab = build_scenario(scenario, seed=seed, variant=variant)
    except KeyError as exc:
        raise LabOptionError(str(exc.args[0])) from exc
    names = {h for h in lab.hosts} | {h.split(".", 1)[0] for h in lab.hosts}
    bad = [h for h in ssh_refused if h not in names]
    if bad:
        raise LabOptionError(f"unknown host(s) {', '.join(bad)}; the lab's hosts are {', '.join(lab.hosts)}")
    lab.spec["knobs"] = {"smsDown": sms_down, "missingPrivileges": list(missing_privileges)}
    if provider_ceiling is not None:
        # A ceiling given alone means "this many later migrations fit": no other work holds any.
        lab.ceiling = provider_ceiling
        lab.busy = 0
    if provider_busy is not None:
        lab.busy = provider_busy

    created = folder is None
    root = Path(tempfile.mkdtemp(prefix=f"vvolguard-lab-{scenario}-")) if folder is None else Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    limited_password = secrets.token_urlsafe(18) if missing_privileges else ""
    logins = {"VVOLGUARD_VCSIM_USER": user, "VVOLGUARD_VCSIM_PASSWORD": password}
    if missing_privileges:
        logins |= {
            "VVOLGUARD_VCSIM_LIMITED_USER": LIMITED_USER,
            "VVOLGUARD_VCSIM_LIMITED_PASSWORD": limited_password,
        }
    running: _Running | None = None
    try:
        for host, files in lab.host_files.items():
            write_host_tree(root / "hosts" / host.split(".", 1)[0], files)
        ssh_hosts, public, config = _ssh_side(root, lab.hosts, set(ssh_refused))
        provider_dir = root / "provider"
        provider_dir.mkdir(exist_ok=True)
        (provider_dir / "provider.pem").write_bytes(lab.provider_cert_pem)
        _write_private(provider_dir / "provider-key.pem", lab.provider_key_pem)
        proc, ready, stderr = _start_vcsim(binary, root, lab, port, logins)
        ssh = SshEndpoints(ssh_hosts, public, SSH_USER)
        running = _Running(proc, ssh, stderr)
        ssh.start()
        provider_sock = reserve_port()
        provider_port = int(provider_sock.getsockname()[1])
        if lab.provider_listening:
            ssh.serve(
                lambda: serve_provider(
                    provider_dir / "provider.pem", provider_dir / "provider-key.pem", provider_sock
                )
            )
        else:
            provider_sock.close()  # a port nothing listens on
        url = ready["url"]
        info = LabInfo(
            url=url,
            user=user,
            password=password,
            ca_file=str(root / "ca.pem"),
            ssh_config=str(config),
            hosts=list(lab.hosts),
            scenario=scenario,
            expected_class=lab.expected_class,
            folder=str(root),
            sms_url=url.rsplit("/sdk", 1)[0] + "/sms/sdk",
            window=(lab.window[0].isoformat(), lab.window[1].isoformat()),
            ssh_ports={h.name: h.port for h in ssh_hosts},
            limited_user=LIMITED_USER if missing_privileges else "",
            limited_password=limited_password,
            missing=tuple(missing_privileges),
            providers={lab.provider_url: f"127.0.0.1:{provider_port}"},
        )
        yield info
    finally:
        if running is not None:
            _stop(running)
        if created:
            shutil.rmtree(root, ignore_errors=True)
