from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from common.errors import VALIDATION_CODE, AppError, install_error_handlers, openapi_errors


class Body(BaseModel):
    phone: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo", openapi_extra={VALIDATION_CODE: "invalid_phone"})
    def echo(body: Body) -> Body:
        return body

    @app.get("/conflict", responses=openapi_errors(404, 409, descriptions={409: "`already_there`"}))
    def conflict() -> None:
        raise AppError("Already there.", code="already_there", status_code=409, current="x")

    @app.post("/things/{thing_id}/lock")
    def lock(thing_id: int) -> None:
        return None

    @app.delete("/things/{thing_id}/lock")
    def unlock(thing_id: int) -> None:
        return None

    return app


def test_a_405_allows_every_method_of_the_path_not_only_the_first_routes() -> None:
    client = TestClient(make_app())
    for method in ("GET", "PUT", "OPTIONS"):
        response = client.request(method, "/things/7/lock")
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"
        assert response.headers["allow"] == "DELETE, POST"
    assert client.get("/echo").headers["allow"] == "POST"


def test_body_validation_uses_the_route_code() -> None:
    response = TestClient(make_app()).post("/echo", json={"phone": 5})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_phone"
    assert body["errors"][0]["loc"] == ["body", "phone"]


def test_malformed_json_is_a_422_in_the_error_shape() -> None:
    response = TestClient(make_app()).post(
        "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_json"


def test_app_error_renders_code_detail_and_extras() -> None:
    response = TestClient(make_app()).get("/conflict")
    assert response.status_code == 409
    assert response.json() == {"detail": "Already there.", "code": "already_there", "current": "x"}


def test_unknown_path_is_a_404_in_the_error_shape() -> None:
    response = TestClient(make_app()).get("/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_documented_errors_have_the_error_shape() -> None:
    spec = make_app().openapi()
    responses = spec["paths"]["/conflict"]["get"]["responses"]
    assert responses["404"]["description"] == "Not Found"
    assert responses["409"]["description"] == "`already_there`"
    schema = responses["409"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    body = spec["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["detail", "code"] and body["additionalProperties"] is True
