"""Test tooling shared by every suite: the pytest plugin (`testkit.plugin`) and real server
processes (`testkit.servers`). Dev-only: no service or image depends on it."""
