"""The hub end to end: a real HTTP server on loopback serving a hub folder built with
`zelos hub publish`, with request counting and fault injection (a dropped connection, a server
error, tampered files, a wrong hash in the index)."""

import hashlib
import http.server
import json
import logging
import shutil
import socket
import threading
from pathlib import Path
from unittest import mock

import pytest

import zelos
from zelos import cli, testing
from zelos import hub as zhub

NAME = "hubemu"
VERSIONS = ["0.0.2", "0.0.9", "0.0.10", "1.0.0-rc.1"]  # newest release: 0.0.10 (not 0.0.9, not the rc)
NEWEST = "0.0.10"


def make_archive(path, version, seed=0, name=NAME, max_relative_error=None):
    """A small random-weight archive of `name` at `version` (and, optionally, an accuracy summary)."""
    spec_yaml, write = testing.spec_yaml, testing._zelos.write_emulator_archive

    def versioned(*args, **kwargs):
        return spec_yaml(*args, **kwargs).replace("version: 0.0.1\n", f"version: {version}\n", 1)

    def with_report(path, spec, model, weights, region, report, *rest):
        if max_relative_error is not None:
            report = json.dumps({"summary": {"max_relative_error": max_relative_error, "worst_output": "dl_tt"}})
        return write(path, spec, model, weights, region, report, *rest)

    with mock.patch.object(testing, "spec_yaml", versioned), mock.patch.object(testing._zelos, "write_emulator_archive", with_report):
        testing.random_archive(path, name=name, hidden=1, width=8, n_out=20, seed=seed)
    return Path(path)


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    """A hub folder with four versions of NAME, published through the command line."""
    root = tmp_path_factory.mktemp("hubsrc")
    hub = root / "hub"
    for i, version in enumerate(VERSIONS):
        archive = make_archive(root / f"{version}.tar.gz", version, seed=i, max_relative_error=0.002 * (i + 1))
        assert cli.main(["hub", "publish", str(archive), str(hub)]) == 0
    return hub


class Server:
    """`http.server` on 127.0.0.1: serves a folder, honours `Range: bytes=N-`, counts requests,
    and injects faults: one-shot `faults[path]` ("500", "drop") and persistent `override[path]`."""

    def __init__(self, root: Path):
        self.root = root
        self.requests = []  # (path, Range header or None)
        self.faults = {}
        self.override = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0].lstrip("/")
                server.requests.append((path, self.headers.get("Range")))
                fault = server.faults.get(path, []).pop(0) if server.faults.get(path) else None
                if fault == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.override.get(path)
                if body is None:
                    file = server.root / path
                    if not file.is_file():
                        self.send_response(404)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = file.read_bytes()
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[len("bytes="):-1])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if fault == "drop":
                    # Half the body, then the connection goes away.
                    self.wfile.write(body[start:start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def count(self, path=None):
        return len([r for r in self.requests if path is None or r[0] == path])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(hub_dir):
    s = Server(hub_dir)
    yield s
    s.stop()


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    """A fresh cache and the test server as ZELOS_HUB."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZELOS_HUB", server.url)
    monkeypatch.setenv("ZELOS_CACHE", str(cache))
    for var in ("ZELOS_OFFLINE", "ZELOS_HUB_TTL", "ZELOS_HUB_RETRIES", "ZELOS_HUB_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    return cache


def archive_path(version):
    return f"{NAME}/{version}/{NAME}.tar.gz"


def leftovers(cache: Path):
    """Files in the cache other than lock files and cached indexes."""
    if not cache.exists():
        return []
    return sorted(
        str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file() and p.relative_to(cache).parts[0] not in (".locks", ".hubs")
    )


def test_first_call_downloads_and_verifies_then_the_cache_answers_with_no_request(env, server, caplog):
    caplog.set_level(logging.INFO, logger="zelos.hub")
    emu = zelos.get_emulator(f"hub:{NAME}")
    assert emu.spec["version"] == NEWEST
    assert server.count("index.json") == 1 and server.count(archive_path(NEWEST)) == 1
    cached = env / NAME / NEWEST / f"{NAME}.tar.gz"
    assert cached.is_file() and Path(emu.path) == cached
    assert emu.sha256 == hashlib.sha256(cached.read_bytes()).hexdigest()
    assert any(f"version {NEWEST}, the newest of" in r.getMessage() for r in caplog.records)

    before = server.count()
    again = zelos.get_emulator(f"hub:{NAME}")
    pinned = zelos.get_emulator(f"hub:{NAME}@{NEWEST}")
    assert server.count() == before, server.requests[before:]
    assert again.sha256 == pinned.sha256 == emu.sha256
    assert zhub.fetch(f"hub:{NAME}").source == "cache"


def test_pinning_and_newest_selection(env, server):
    emu = zelos.get_emulator(f"hub:{NAME}@0.0.2")
    assert emu.spec["version"] == "0.0.2"
    assert server.count(archive_path("0.0.2")) == 1 and server.count(archive_path(NEWEST)) == 0
    rc = zhub.fetch(f"{NAME}@1.0.0-rc.1")  # the prefix may be left out
    assert rc.version == "1.0.0-rc.1" and rc.source == "download"
    assert zhub.fetch(NAME).version == NEWEST  # a release beats a pre-release; 0.0.10 > 0.0.9
    with pytest.raises(zhub.HubError, match=r"has no version `9.9` of `hubemu` \(it has 0.0.2, 0.0.9, 0.0.10, 1.0.0-rc.1\)"):
        zelos.get_emulator(f"hub:{NAME}@9.9")
    with pytest.raises(zhub.HubError, match="has no emulator `nothere` \\(it has hubemu\\)"):
        zelos.get_emulator("hub:nothere")
    with pytest.raises(zhub.HubError, match="is not a hub reference"):
        zelos.get_emulator("hub:../etc")


def test_a_tampered_archive_is_refused_and_nothing_is_kept(env, server, hub_dir):
    good = (hub_dir / archive_path(NEWEST)).read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    server.override[archive_path(NEWEST)] = bytes(bad)
    with pytest.raises(zhub.HubError, match=r"sha256 [0-9a-f]{64} differs from the index's .*tampered or corrupted"):
        zelos.get_emulator(f"hub:{NAME}")
    assert leftovers(env) == [] and not (env / NAME).exists()


def test_a_wrong_hash_in_the_index_is_refused_and_nothing_is_kept(env, server, hub_dir):
    index = json.loads((hub_dir / "index.json").read_text())
    entry = index["emulators"][NAME]["versions"]["0.0.2"]
    entry["sha256"] = "0" * 64
    server.override["index.json"] = json.dumps(index).encode()
    with pytest.raises(zhub.HubError, match="differs from the index's 0000"):
        zelos.get_emulator(f"hub:{NAME}@0.0.2")
    assert leftovers(env) == [] and not (env / NAME).exists()


def test_an_archive_that_fails_verification_is_refused_even_with_a_matching_hash(env, server, hub_dir):
    # The publisher's own index agrees with the broken file: the archive's verification refuses it.
    good = (hub_dir / archive_path("0.0.9")).read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    index = json.loads((hub_dir / "index.json").read_text())
    index["emulators"][NAME]["versions"]["0.0.9"]["sha256"] = hashlib.sha256(bad).hexdigest()
    server.override["index.json"] = json.dumps(index).encode()
    server.override[archive_path("0.0.9")] = bytes(bad)
    with pytest.raises(zelos.ArchiveError, match=r"/hubemu/0.0.9/hubemu.tar.gz: not a valid"):
        zelos.get_emulator(f"hub:{NAME}@0.0.9")
    assert leftovers(env) == []


def test_an_interrupted_download_resumes_with_a_range_request(env, server):
    server.faults[archive_path(NEWEST)] = ["drop"]
    emu = zelos.get_emulator(f"hub:{NAME}")
    gets = [r for r in server.requests if r[0] == archive_path(NEWEST)]
    assert len(gets) == 2 and gets[0][1] is None
    assert gets[1][1].startswith("bytes=") and int(gets[1][1][6:-1]) > 0, gets
    assert emu.spec["version"] == NEWEST
    assert leftovers(env) == [f"{NAME}/{NEWEST}/entry.json", f"{NAME}/{NEWEST}/{NAME}.tar.gz"]


def test_server_errors_are_retried(env, server):
    server.faults["index.json"] = ["500"]
    server.faults[archive_path(NEWEST)] = ["500"]
    assert zhub.fetch(NAME).version == NEWEST
    assert server.count("index.json") == 2 and server.count(archive_path(NEWEST)) == 2


def test_offline_the_cache_answers_and_what_is_missing_is_named(env, server, monkeypatch):
    zelos.get_emulator(f"hub:{NAME}@0.0.2")
    monkeypatch.setenv("ZELOS_OFFLINE", "1")
    before = server.count()
    emu = zelos.get_emulator(f"hub:{NAME}")  # the newest *cached* version
    assert emu.spec["version"] == "0.0.2" and server.count() == before
    with pytest.raises(zhub.HubError) as e:
        zelos.get_emulator(f"hub:{NAME}@0.0.9")
    message = str(e.value)
    assert f"hub:{NAME}@0.0.9 is not in the cache {env}" in message
    assert "cached versions: 0.0.2" in message and "ZELOS_OFFLINE is set" in message
    assert server.count() == before


def test_an_unreachable_hub_falls_back_to_the_cache(env, server, monkeypatch, caplog):
    zelos.get_emulator(f"hub:{NAME}@0.0.2")
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    monkeypatch.setenv("ZELOS_HUB", dead)
    monkeypatch.setenv("ZELOS_HUB_RETRIES", "0")
    caplog.set_level(logging.INFO, logger="zelos.hub")
    assert zelos.get_emulator(f"hub:{NAME}").spec["version"] == "0.0.2"
    assert any(r.levelno == logging.WARNING and "unreachable" in r.getMessage() for r in caplog.records)
    with pytest.raises(zhub.HubError, match=r"0.0.9 is not in the cache .*the hub could not be reached .*unreachable after 1 attempt"):
        zelos.get_emulator(f"hub:{NAME}@0.0.9")


def test_no_hub_configured_says_so(env, monkeypatch):
    monkeypatch.delenv("ZELOS_HUB")
    with pytest.raises(zhub.HubError, match="no hub is configured"):
        zelos.get_emulator(f"hub:{NAME}")


def test_a_local_folder_is_a_hub_too(env, hub_dir, monkeypatch):
    monkeypatch.delenv("ZELOS_HUB")
    emu = zelos.get_emulator(f"hub:{NAME}", hub=str(hub_dir))
    assert emu.spec["version"] == NEWEST and Path(emu.path).is_relative_to(env)
    assert zhub.fetch(f"{NAME}@0.0.2", f"file://{hub_dir}").source == "download"


def test_publish_is_idempotent_and_refuses_to_change_a_version(hub_dir, tmp_path, capsys):
    index_before = (hub_dir / "index.json").read_bytes()
    assert cli.main(["hub", "publish", str(hub_dir / archive_path("0.0.2")), str(hub_dir)]) == 0
    assert "already published with the same contents" in capsys.readouterr().out
    other = make_archive(tmp_path / "other.tar.gz", "0.0.2", seed=99)
    assert cli.main(["hub", "publish", str(other), str(hub_dir)]) == 1
    assert "hubemu@0.0.2 is already published with sha256" in capsys.readouterr().err
    assert (hub_dir / "index.json").read_bytes() == index_before
    assert not list(hub_dir.rglob("*.tmp"))


def test_index_schema_as_published(hub_dir):
    index = json.loads((hub_dir / "index.json").read_text())
    assert index["format"] == "zelos-hub" and index["format_version"] == 1
    entry = index["emulators"][NAME]["versions"]["0.0.2"]
    data = (hub_dir / entry["url"]).read_bytes()
    assert entry["url"] == archive_path("0.0.2") and entry["size"] == len(data)
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["code"] == {"name": "camb", "version": "2.0.5"}
    assert [p["name"] for p in entry["parameters"]] == list(testing.LCDM)
    assert entry["parameters"][0]["min"] == testing.LCDM["ombh2"][0]
    assert entry["max_relative_error"] == pytest.approx(0.002)
    assert entry["created"].endswith("Z")


def test_hub_list_and_info(env, server, capsys):
    assert cli.main(["hub", "list", server.url]) == 0
    out = capsys.readouterr().out
    assert f"hub {server.url}index.json" in out
    newest_line = next(line for line in out.splitlines() if f" {NEWEST} *" in line)
    assert newest_line.split()[:5] == [NAME, NEWEST, "*", "camb", "2.0.5"]
    assert "ombh2, omch2, cosmomc_theta, tau, logA, ns" in newest_line and "0.006" in newest_line
    assert cli.main(["hub", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["emulators"]
    assert [r["version"] for r in rows] == VERSIONS and [r["newest"] for r in rows] == [False, False, True, False]
    assert cli.main(["info", f"hub:{NAME}@0.0.2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(NAME) and "emulates   camb 2.0.5" in out
    assert cli.main(["hub", "list", "--cached"]) == 0
    assert f"{NAME}@0.0.2" in capsys.readouterr().out
    assert cli.main(["hub", "fetch", NAME]) == 0
    assert f"{NAME}@{NEWEST}: downloaded and verified" in capsys.readouterr().out


def test_a_changed_cached_file_is_noticed(env, server):
    emu = zelos.get_emulator(f"hub:{NAME}@0.0.2")
    path = Path(emu.path)
    shutil.copyfile(server.root / archive_path("0.0.9"), path)  # a valid archive, but not the one verified
    with pytest.raises(zhub.HubError, match="changed since it was verified"):
        zelos.get_emulator(f"hub:{NAME}@0.0.2")


def test_progress_reaches_python_and_an_interrupted_download_is_kept_for_the_next_attempt(env, server):
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if len(seen) == 2:
            raise KeyboardInterrupt  # as Ctrl-C in a callback would

    with pytest.raises(KeyboardInterrupt):
        zelos._zelos.hub_resolve(f"hub:{NAME}@0.0.2", progress=progress)
    size = (server.root / archive_path("0.0.2")).stat().st_size
    assert seen[0] == (0, size) and seen[1][1] == size
    assert [p.suffix for p in (env / ".partial").iterdir()] == [".part"]
    before = server.count(archive_path("0.0.2"))
    resolved = zhub.fetch(f"hub:{NAME}@0.0.2", progress=True)  # a tqdm bar, when tqdm is installed
    assert resolved.source == "download" and server.count(archive_path("0.0.2")) == before  # all bytes were there
    assert leftovers(env) == [f"{NAME}/0.0.2/entry.json", f"{NAME}/0.0.2/{NAME}.tar.gz"]


def test_an_emulator_shipped_with_zelos_answers_when_the_hub_cannot(env, tmp_path, monkeypatch, caplog):
    from zelos import shipped

    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "shipped")
    (tmp_path / "shipped").mkdir()
    make_archive(tmp_path / "shipped" / "shippedemu.tar.gz", "2.0.0", name="shippedemu")
    monkeypatch.delenv("ZELOS_HUB")
    caplog.set_level(logging.INFO, logger="zelos.hub")
    assert zelos.get_emulator("hub:shippedemu").spec["version"] == "2.0.0"
    assert zelos.get_emulator("hub:shippedemu@2.0.0").name == "shippedemu"
    assert any("shipped with zelos" in r.getMessage() for r in caplog.records)
    with pytest.raises(zhub.HubError, match="hub:shippedemu@1.0.0 is not in the cache"):
        zelos.get_emulator("hub:shippedemu@1.0.0")
