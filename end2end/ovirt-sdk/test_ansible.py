"""oVirt's Ansible module for external jobs (`ovirt.ovirt.ovirt_job`, from the `ansible` package on
PyPI), run by ansible-playbook against Stepwise; what it did is then read back through the native API."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from conftest import BASE, PASSWORD, native_token, rest

PLAYBOOK = Path(__file__).parent / "ansible" / "ovirt_job.yml"


def test_the_ovirt_job_module_starts_steps_ends_and_fails_a_job(tmp_path):
    name = "ansible-" + uuid.uuid4().hex[:10]
    env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_HOME=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1")
    # Over HTTPS with the CA file when scripts/test.sh started the second, TLS-speaking process (the
    # same database), as oVirt's playbooks reach their engine.
    tls_url, tls_ca = os.environ.get("STEPWISE_TLS_URL"), os.environ.get("STEPWISE_TLS_CA")
    target = ["-e", "url=" + tls_url, "-e", "ca_file=" + tls_ca] if tls_url and tls_ca else ["-e", "url=" + BASE]
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-e", "ansible_python_interpreter=" + sys.executable, *target,
         "-e", "password=" + PASSWORD, "-e", "name=" + name, str(PLAYBOOK)],
        env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

    token = native_token()
    [job] = rest("GET", "/api/jobs?q=" + name, token)["items"]
    assert job["description"] == name and job["is_external"] and job["auto_cleared"]
    assert job["status"] == "failed"
    steps = {s["description"]: s for s in rest("GET", "/api/jobs/%s/steps" % job["id"], token)["items"]}
    assert sorted(steps) == ["Copy the disks", "Verify the copy"]
    assert all(s["type"] == "unknown" for s in steps.values())
    # Ended by the module before the job failed; the other took the job's end.
    assert steps["Copy the disks"]["status"] == "finished"
    assert steps["Verify the copy"]["status"] == "failed"
