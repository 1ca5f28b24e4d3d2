"""A real nginx on the rendered gateway config, in front of three small echo services.

Each echo service answers every path with what it received (path, query, headers, body size),
so a test can see exactly what the gateway forwarded, and remembers the paths it was asked for,
so a test can prove that a request never reached a service at all.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.tests.compose_model import (
    CONTRACT_SETTINGS,
    PYTHON_SERVICES,
    settings_class,
    settings_env_names,
)
from gateway_config.render import nginx_binary, nginx_command, render_native_config
from testkit.plugin import free_port
from testkit.servers import running_process

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "referral", "profile")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# Big enough for gzip (the gateway compresses from 512 bytes on).
STYLESHEET = "body { margin: 0; }\n" * 64
SCRIPT = "document.documentElement.dataset.ready = 'yes';\n" * 32
PAGES = {
    "index.html": "<!doctype html><title>root page</title>",
    "number_input/index.html": "<!doctype html><title>number_input page</title>",
    "otp_input/index.html": "<!doctype html><title>otp_input page</title>",
    "profile/index.html": "<!doctype html><title>profile page</title>",
    "admin/index.html": "<!doctype html><title>admin page</title>",
    "static/app.css": STYLESHEET,
    "static/app.js": SCRIPT,
}


@dataclass
class EchoService:
    name: str
    port: int = 0
    seen: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            body = await request.body()
            self.seen.append(request.url.path)
            params = request.query_params
            headers = {"X-Request-ID": request.headers.get("x-request-id", "from-service")}
            if "status" in params:
                # Lets a test check that the service's own errors pass through untouched.
                status = int(params["status"])
                extra = {"429": {"Retry-After": "30"}, "405": {"Allow": "POST"}}
                headers.update(extra.get(params["status"], {}))
                return JSONResponse({"detail": "from service", "code": "stub"}, status, headers)
            answer = {
                "service": self.name,
                "method": request.method,
                "path": request.url.path,
                "query": request.scope["query_string"].decode(),
                "http_version": request.scope["http_version"],
                "client_port": request.client.port if request.client else None,
                "headers": dict(request.headers),
                "body_size": len(body),
                "pad": "x" * int(params.get("pad", "0")),
            }
            return JSONResponse(answer, headers=headers)

        return Starlette(routes=[Route("/{path:path}", echo, methods=ALL_METHODS)])


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: Message
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class Gateway:
    port: int
    workdir: Path
    services: dict[str, EchoService]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, *, source: str = "127.0.0.1") -> httpx.Client:
        """A client whose connections come from `source` (any 127.x address is this machine)."""
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=self.url, transport=transport, timeout=10)

    def raw(self, method: str, target: str, body: bytes | None = None) -> RawResponse:
        """Send `target` exactly as written: httpx would resolve `..` before sending."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, target, body=body)
            response = connection.getresponse()
            return RawResponse(response.status, response.headers, response.read())
        finally:
            connection.close()

    def send(self, request: bytes) -> RawResponse:
        """Write `request` byte for byte on a new connection; read the one answer to it."""
        method = request.split(b" ", 1)[0].decode("latin-1")
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            response = http.client.HTTPResponse(sock, method=method)
            response.begin()
            return RawResponse(response.status, response.headers, response.read())

    def forget_requests(self) -> None:
        for service in self.services.values():
            service.seen.clear()

    def requests_seen(self) -> list[str]:
        return [path for service in self.services.values() for path in service.seen]


@contextmanager
def serving(service: EchoService) -> Iterator[EchoService]:
    """Run `service` on a free loopback port in a thread of this process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    service.port = sock.getsockname()[1]
    config = uvicorn.Config(service.app(), log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"echo service {service.name} did not start")
            time.sleep(0.01)
        yield service
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_gateway(
    workdir: Path,
    frontend: Path,
    upstreams: dict[str, EchoService],
    addresses: dict[str, str],
    edit: Callable[[str], str] | None = None,
) -> Iterator[Gateway]:
    """nginx on the rendered template; `edit` may change the rendered gateway before start."""
    port = free_port()
    config = render_native_config(
        workdir=workdir,
        listen_port=port,
        frontend_root=frontend,
        **addresses,
    )
    if edit is not None:
        gateway = config.with_name("gateway.conf")
        gateway.write_text(edit(gateway.read_text()))
    with running_process(
        nginx_command(config, workdir),
        health_url=f"http://127.0.0.1:{port}/number_input/",
        log_path=workdir / "nginx.out",
        timeout=20,
    ):
        yield Gateway(port=port, workdir=workdir, services=upstreams)


@pytest.fixture(scope="session")
def nginx_installed() -> None:
    try:
        nginx_binary()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def frontend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frontend")
    for name, text in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="session")
def echo_services() -> Iterator[dict[str, EchoService]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(serving(EchoService(name))) for name in SERVICES}


@pytest.fixture(scope="session")
def gateway(
    nginx_installed: None,
    tmp_path_factory: pytest.TempPathFactory,
    frontend: Path,
    echo_services: dict[str, EchoService],
) -> Iterator[Gateway]:
    addresses = {name: service.address for name, service in echo_services.items()}
    workdir = tmp_path_factory.mktemp("gateway")
    with running_gateway(workdir, frontend, echo_services, addresses) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def gateway_without_services(
    nginx_installed: None, tmp_path_factory: pytest.TempPathFactory, frontend: Path
) -> Iterator[Gateway]:
    """A gateway whose services are all down: nothing listens on their port."""
    nowhere = f"127.0.0.1:{free_port()}"
    workdir = tmp_path_factory.mktemp("gateway-down")
    addresses = dict.fromkeys(SERVICES, nowhere)
    with running_gateway(workdir, frontend, {}, addresses) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def gateway_factory(
    nginx_installed: None,
    tmp_path_factory: pytest.TempPathFactory,
    frontend: Path,
    echo_services: dict[str, EchoService],
) -> Iterator[Callable[[Callable[[str], str]], Gateway]]:
    """Start another gateway in front of the echo services, its configuration edited first."""
    with ExitStack() as stack:

        def start(edit: Callable[[str], str]) -> Gateway:
            addresses = {name: service.address for name, service in echo_services.items()}
            workdir = tmp_path_factory.mktemp("gateway-edited")
            return stack.enter_context(
                running_gateway(workdir, frontend, echo_services, addresses, edit=edit)
            )

        yield start


def _one_second_client_timeouts(gateway: str) -> str:
    edited, count = re.subn(r"(client_(header|body)_timeout) \d+s;", r"\1 1s;", gateway)
    assert count == 2, "the template's client_header_timeout/client_body_timeout moved"
    return edited


@pytest.fixture(scope="session")
def impatient_gateway(
    gateway_factory: Callable[[Callable[[str], str]], Gateway],
) -> Gateway:
    """A gateway that waits 1 s, not 10 s, for a client to finish its request."""
    return gateway_factory(_one_second_client_timeouts)


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    gateway.forget_requests()
    with gateway.client() as client:
        yield client


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse_dockerfile(path: Path) -> list[Instruction]:
    """A Dockerfile's instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def dockerfile() -> Callable[[Path], list[Instruction]]:
    return parse_dockerfile


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No variable of this machine's environment may stand in for one compose leaves out."""
    for service in PYTHON_SERVICES:
        for name in settings_env_names(settings_class(service)) | CONTRACT_SETTINGS:
            monkeypatch.delenv(name, raising=False)
    yield monkeypatch
