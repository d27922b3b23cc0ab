"""The real oVirt Python SDK against a running Stepwise (STEPWISE_URL, STEPWISE_E2E_PASSWORD)."""

import json
import os
import urllib.parse
import urllib.request
import uuid

import pytest
import ovirtsdk4 as sdk

BASE = os.environ.get("STEPWISE_URL", "http://127.0.0.1:3000")
PASSWORD = os.environ.get("STEPWISE_E2E_PASSWORD", "admin-password")


def rest(method, path, token=None, body=None):
    """A call to Stepwise's native API (for set-up only)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None


def native_token(username="admin", password=PASSWORD):
    form = urllib.parse.urlencode({"grant_type": "password", "username": username, "password": password}).encode()
    with urllib.request.urlopen(BASE + "/api/auth/token", data=form) as response:
        return json.loads(response.read())["access_token"]


def connect(username="admin@internal", password=PASSWORD):
    return sdk.Connection(url=BASE + "/ovirt-engine/api", username=username, password=password, insecure=True)


@pytest.fixture
def connection():
    c = connect()
    yield c
    c.close()


@pytest.fixture
def viewer():
    """A user who may look but not inject: TaskViewer."""
    admin = native_token()
    name = "viewer-" + uuid.uuid4().hex[:8]
    user = rest("POST", "/api/users", admin, {"username": name, "password": "viewer-password"})
    rest("PUT", "/api/users/%s/roles/TaskViewer" % user["id"], admin)
    c = connect(name, "viewer-password")
    yield c
    c.close()
