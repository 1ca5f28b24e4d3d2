from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from auth_service.keys import private_key_to_pem

USERS_ME = "/internal/users/me"


def test_the_caller_from_the_database(client: TestClient, flow: Any) -> None:
    body = flow.sign_in()
    client.cookies.clear()
    response = client.get(USERS_ME, headers={"authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 200
    assert response.json() == body["user"]


def test_the_access_cookie_works_too(client: TestClient, flow: Any) -> None:
    body = flow.sign_in()
    assert client.get(USERS_ME).json() == body["user"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer x.y.z", "Bearer " + "a" * 10_000, "Token abc"],
)
def test_no_valid_token_is_401(client: TestClient, authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = client.get(USERS_ME, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_from_another_key_is_401(
    client: TestClient, flow_for: Any, make_client: Any
) -> None:
    other_key = private_key_to_pem(Ed25519PrivateKey.generate()).decode()
    token = flow_for(make_client(jwt_private_key=other_key)).sign_in()["access_token"]
    client.cookies.clear()
    response = client.get(USERS_ME, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
