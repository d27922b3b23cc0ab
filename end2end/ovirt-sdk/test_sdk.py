"""Plug-in scenarios written for oVirt, unchanged, against Stepwise."""

import os
import time
import uuid

import pytest
import ovirtsdk4 as sdk
import ovirtsdk4.types as types

from conftest import BASE, PASSWORD, connect, native_token, rest


def test_connect_and_test(connection):
    assert connection.test(raise_exception=True)


def test_a_url_given_with_a_trailing_slash_works_too():
    # The SDK joins "…/ovirt-engine/api/" and "/jobs" into "…/api//jobs".
    c = sdk.Connection(url=BASE + "/ovirt-engine/api/", username="admin@internal", password=PASSWORD)
    try:
        assert c.test(raise_exception=True)
        jobs = c.system_service().jobs_service()
        job = jobs.add(types.Job(description="added through a URL ending in a slash"))
        step = jobs.job_service(job.id).steps_service().add(
            types.Step(description="copying", type=types.StepEnum.EXECUTING)
        )
        assert [s.id for s in c.follow_link(job.steps)] == [step.id]
        assert job.id in [j.id for j in jobs.list(search="status=started")]
    finally:
        c.close()


def test_the_root_reports_the_api_version_plug_ins_compare(connection):
    api = connection.system_service().get()
    version = api.product_info.version
    # What oVirt's Ansible collection compares (`engine_supported(connection, "4.4")`).
    assert (version.major, version.minor) >= (4, 4)
    assert "Stepwise" in version.full_version and api.product_info.name == "Stepwise"
    assert api.time is not None and api.time.tzinfo is not None


def test_add_job_with_steps_and_sub_steps(connection):
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="Backup <vm-1> & friends", auto_cleared=True))
    assert job.id and job.status == types.JobStatus.STARTED
    assert job.external is True and job.auto_cleared is True
    assert job.description == "Backup <vm-1> & friends"
    assert job.start_time is not None and job.start_time.tzinfo is not None

    steps = jobs.job_service(job.id).steps_service()
    parent = steps.add(types.Step(description="Copy disks", type=types.StepEnum.EXECUTING))
    child = steps.add(types.Step(description="Copy disk 1", type=types.StepEnum.EXECUTING,
                                 parent_step=types.Step(id=parent.id)))
    assert parent.number == 0 and child.number == 0
    assert child.parent_step.id == parent.id
    assert child.job.id == job.id

    listed = steps.list()
    assert [s.description for s in listed] == ["Copy disks", "Copy disk 1"]
    assert [s.description for s in steps.list(max=1)] == ["Copy disks"]
    assert len(steps.list(max=-1)) == 2
    got = steps.step_service(child.id).get()
    assert got.status == types.StepStatus.STARTED and got.type == types.StepEnum.EXECUTING


def test_a_step_may_be_added_with_its_progress(connection):
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="Progress from the start"))
    steps = jobs.job_service(job.id).steps_service()
    step = steps.add(types.Step(description="Copy", type=types.StepEnum.EXECUTING, progress=40))
    assert step.progress == 40
    assert steps.step_service(step.id).get().progress == 40
    with pytest.raises(sdk.Error) as refused:
        steps.add(types.Step(description="Too far", type=types.StepEnum.EXECUTING, progress=101))
    assert refused.value.code == 400 and "step.progress" in str(refused.value)
    assert len(steps.list()) == 1


def test_list_with_follow_and_search(connection):
    jobs = connection.system_service().jobs_service()
    correlation = "sdk-" + uuid.uuid4().hex[:10]
    marked = jobs.add(types.Job(description="marked"), headers={"Correlation-Id": correlation})
    jobs.job_service(marked.id).steps_service().add(types.Step(description="s", type=types.StepEnum.VALIDATING))
    jobs.add(types.Job(description="unmarked"))

    found = jobs.list(search="correlation_id=%s" % correlation, follow="steps")
    assert [j.id for j in found] == [marked.id]
    assert [s.description for s in found[0].steps] == ["s"]
    others = jobs.list(search="correlation_id!=%s" % correlation, max=1000)
    assert marked.id not in [j.id for j in others]
    assert len(jobs.list(max=1)) == 1


def test_search_by_status_and_description(connection):
    jobs = connection.system_service().jobs_service()
    word = "sdk" + uuid.uuid4().hex[:10]
    running = jobs.add(types.Job(description="Nightly %s backup" % word))
    done = jobs.add(types.Job(description="nightly %s BACKUP done" % word))
    jobs.job_service(done.id).end(succeeded=True)

    both = jobs.list(search="description=*%s backup*" % word)
    assert sorted(j.id for j in both) == sorted([running.id, done.id])
    started = jobs.list(search="status=started and description=*%s*" % word)
    assert [j.id for j in started] == [running.id]
    finished = jobs.list(search="description=%s and status=finished" % word)
    assert [j.id for j in finished] == [done.id]
    quoted = jobs.list(search='description="%s backup done" and status=finished' % word)
    assert [j.id for j in quoted] == [done.id]
    exact = jobs.list(search="description=*%s backup*" % word, case_sensitive=True)
    assert [j.id for j in exact] == [running.id]
    either = jobs.list(search="description=*%s backup*" % word, case_sensitive=False)
    assert sorted(j.id for j in either) == sorted([running.id, done.id])
    with pytest.raises(sdk.Error) as refused:
        jobs.list(search="status=running")
    assert "status" in str(refused.value) and "400" in str(refused.value)
    newest_first = jobs.list(search="description=*%s* sortby start_time desc" % word)
    assert [j.id for j in newest_first] == [done.id, running.id]
    with pytest.raises(sdk.Error) as refused:
        jobs.list(search="description=*%s* sortby start_time asc" % word)
    assert "newest first" in str(refused.value) and "400" in str(refused.value)
    first_page = jobs.list(search="description=*%s* sortby start_time desc page 1" % word, max=1)
    assert [j.id for j in first_page] == [done.id]
    with pytest.raises(sdk.Error) as refused:
        jobs.list(search="description=*%s* page 2" % word, max=1)
    assert "first page only" in str(refused.value) and "400" in str(refused.value)


def test_get_a_job(connection):
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="get me"))
    got = jobs.job_service(job.id).get()
    assert got.id == job.id and got.description == "get me"
    assert got.owner is not None and got.owner.id


def test_a_jobs_owner_is_its_user(connection, viewer):
    """`job.owner` is a link to the user who added the job, which the SDK follows; a viewer sees
    the owners of the jobs it sees. The users list is for administrators."""
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="whose"))
    got = jobs.job_service(job.id).get()
    owner = connection.follow_link(got.owner)
    assert isinstance(owner, types.User)
    assert owner.id == got.owner.id and owner.name == "admin" and owner.user_name == "admin@internal"
    seen = viewer.follow_link(viewer.system_service().jobs_service().job_service(job.id).get().owner)
    assert seen.name == "admin"
    assert "admin" in [u.name for u in connection.system_service().users_service().list()]
    with pytest.raises(sdk.AuthError):
        viewer.system_service().users_service().list()


def test_follow_owner_embeds_the_owners_names(connection):
    """`follow=owner` gives the owner's names with the job, as following its link would."""
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="whose, in one call"))
    got = jobs.job_service(job.id).get(follow="owner")
    assert (got.owner.name, got.owner.user_name) == ("admin", "admin@internal")
    listed = [j for j in jobs.list(search="description=whose, in one call", follow="steps,owner")]
    assert [j.owner.name for j in listed] == ["admin"]
    assert jobs.job_service(job.id).get().owner.name is None, "only when followed"


def test_end_a_step_and_a_failed_step_fails_its_job(connection):
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="will fail"))
    steps = jobs.job_service(job.id).steps_service()
    ok = steps.add(types.Step(description="ok", type=types.StepEnum.VALIDATING))
    other = steps.add(types.Step(description="other", type=types.StepEnum.EXECUTING))
    bad = steps.add(types.Step(description="bad", type=types.StepEnum.EXECUTING))

    steps.step_service(ok.id).end(succeeded=True)
    assert steps.step_service(ok.id).get().status == types.StepStatus.FINISHED
    steps.step_service(bad.id).end(succeeded=False)
    assert jobs.job_service(job.id).get().status == types.JobStatus.FAILED
    assert steps.step_service(other.id).get().status == types.StepStatus.FAILED


def test_end_a_job_with_force_and_clear(connection):
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="forced"))
    steps = jobs.job_service(job.id).steps_service()
    running = steps.add(types.Step(description="running", type=types.StepEnum.EXECUTING))
    jobs.job_service(job.id).end(force=True, succeeded=True)
    ended = jobs.job_service(job.id).get()
    assert ended.status == types.JobStatus.FINISHED and ended.end_time is not None
    assert steps.step_service(running.id).get().status == types.StepStatus.ABORTED

    jobs.job_service(job.id).clear()
    assert jobs.job_service(job.id).get().auto_cleared is True

    # Ending it again differently is refused without force.
    with pytest.raises(sdk.Error) as refused:
        jobs.job_service(job.id).end(succeeded=False)
    assert refused.value.code == 409


def test_unknown_ids_are_not_found(connection):
    jobs = connection.system_service().jobs_service()
    with pytest.raises(sdk.NotFoundError):
        jobs.job_service(str(uuid.uuid4())).get()
    with pytest.raises(sdk.NotFoundError):
        jobs.job_service("not-a-uuid").get()
    job = jobs.add(types.Job(description="j"))
    with pytest.raises(sdk.NotFoundError):
        jobs.job_service(job.id).steps_service().step_service(str(uuid.uuid4())).get()


def test_a_user_without_the_permission_gets_auth_error(viewer):
    jobs = viewer.system_service().jobs_service()
    jobs.list(max=1)  # viewing is allowed
    with pytest.raises(sdk.AuthError):
        jobs.add(types.Job(description="not allowed"))


def test_bad_credentials_are_an_auth_error():
    c = connect("admin", "wrong password")
    with pytest.raises(sdk.AuthError):
        c.test(raise_exception=True)


def test_an_expired_token_is_renewed_transparently(connection):
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="before expiry"))
    # Revoke every bearer token of the admin's through the SSO logout the SDK knows ...
    token = connection.authenticate()
    rest_token = native_token()
    import urllib.parse, urllib.request
    from conftest import BASE
    urllib.request.urlopen(BASE + "/ovirt-engine/services/sso-logout",
                           data=urllib.parse.urlencode({"token": token}).encode()).read()
    # ... the next call gets a 401, signs in again once, and succeeds.
    assert jobs.job_service(job.id).get().id == job.id
    assert connection.authenticate() != token
    assert rest("GET", "/api/jobs/%s" % job.id, rest_token)["id"] == job.id


def test_steps_are_reported_with_statistics_link(connection):
    jobs = connection.system_service().jobs_service()
    job = jobs.add(types.Job(description="stats"))
    steps = jobs.job_service(job.id).steps_service()
    step = steps.add(types.Step(description="s", type=types.StepEnum.FINALIZING))
    stats = connection.follow_link(steps.step_service(step.id).get().statistics)
    assert list(stats) == []


def test_the_calls_of_the_ansible_ovirt_job_module(connection):
    """What oVirt's Ansible module `ovirt_job` sends, call for call: a job with its status and
    `external` stated, steps of type `unknown` naming their job, found again by listing and
    matching descriptions, ended with `succeeded`, and the job's links followed for its result."""
    jobs = connection.system_service().jobs_service()
    name = "ansible-" + uuid.uuid4().hex[:8]

    def running(service, description):
        return [e for e in service.list()
                if e.description == description and e.status != types.JobStatus.FINISHED]

    job = jobs.add(types.Job(description=name, status=types.JobStatus.STARTED, external=True,
                             auto_cleared=True))
    assert job.external is True and job.auto_cleared is True
    steps = jobs.job_service(job.id).steps_service()
    for description in ["first", "second"]:
        added = steps.add(types.Step(description=description, type=types.StepEnum.UNKNOWN,
                                     job=types.Job(id=job.id), status=types.StepStatus.STARTED,
                                     external=True))
        assert added.type == types.StepEnum.UNKNOWN and added.job.id == job.id

    [first] = running(steps, "first")
    steps.step_service(first.id).end(succeeded=True)
    [second] = running(steps, "second")
    steps.step_service(second.id).end(succeeded=False)
    assert steps.step_service(first.id).get().status == types.StepStatus.FINISHED
    assert steps.step_service(second.id).get().type == types.StepEnum.UNKNOWN

    [found] = running(jobs, name)
    assert found.id == job.id and found.status == types.JobStatus.FAILED
    # The module's result follows every link of the job; none may fail other than as an SDK error.
    listed = connection.follow_link(found.steps)
    assert sorted(s.description for s in listed) == ["first", "second"]
    owner = connection.follow_link(found.owner)
    assert owner.id == found.owner.id and owner.user_name == "admin@internal"


TLS_URL = os.environ.get("STEPWISE_TLS_URL")
TLS_CA = os.environ.get("STEPWISE_TLS_CA")


@pytest.mark.skipif(not TLS_URL, reason="no HTTPS server given (scripts/test.sh starts one)")
def test_over_https_with_the_engines_ca_file_as_plug_ins_reach_ovirt(connection):
    """A second server process on the same database, started with --tls-cert and --tls-key."""
    url = TLS_URL + "/ovirt-engine/api"
    # A client that does not trust the certificate is stopped before it sends its password.
    untrusting = sdk.Connection(url=url, username="admin@internal", password=PASSWORD)
    with pytest.raises(sdk.Error, match="(?i)certificate"):
        untrusting.test(raise_exception=True)
    untrusting.close()

    tls = sdk.Connection(url=url, username="admin@internal", password=PASSWORD, ca_file=TLS_CA)
    try:
        assert tls.test(raise_exception=True)
        jobs = tls.system_service().jobs_service()
        job = jobs.add(types.Job(description="over https"))
        steps = jobs.job_service(job.id).steps_service()
        step = steps.add(types.Step(description="copy", type=types.StepEnum.EXECUTING))
        steps.step_service(step.id).end(succeeded=True)
        jobs.job_service(job.id).end(succeeded=True)
    finally:
        tls.close()
    # The plain server shares the database: the job is there, finished, with its step.
    seen = connection.system_service().jobs_service().job_service(job.id)
    assert seen.get().status == types.JobStatus.FINISHED
    assert [s.status for s in seen.steps_service().list()] == [types.StepStatus.FINISHED]
