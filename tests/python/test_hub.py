"""The hub end to end: a real HTTP server on loopback serving a hub folder built with
`zelos hub publish`, with request counting and fault injection (a dropped connection, a server
error, tampered files, a wrong hash in the index)."""

import email.utils
import hashlib
import http.server
import json
import logging
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import zelos
from zelos import cli, testing
from zelos import hub as zhub

NAME = "hubemu"
VERSIONS = ["0.0.2", "0.0.9", "0.0.10", "1.0.0-rc.1"]  # newest release: 0.0.10 (not 0.0.9, not the rc)
NEWEST = "0.0.10"


def make_archive(path, version, seed=0, name=NAME, max_relative_error=None, region=None, trust=None):
    """A small random-weight archive of `name` at `version` (and, optionally, an accuracy summary,
    more region tensors (`mean`, `covariance`, `points`) and a spec `trust` section's YAML)."""
    spec_yaml, write = testing.spec_yaml, testing._zelos.write_emulator_archive

    def versioned(*args, **kwargs):
        text = spec_yaml(*args, **kwargs).replace("version: 0.0.1\n", f"version: {version}\n", 1)
        return text + (f"trust:\n{trust}" if trust else "")

    def with_report(path, spec, model, weights, box, report, *rest):
        if max_relative_error is not None:
            report = json.dumps({"summary": {"max_relative_error": max_relative_error, "worst_output": "dl_tt"}})
        return write(path, spec, model, weights, {**box, **(region or {})}, report, *rest)

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
    """`http.server` on 127.0.0.1 behaving like a static host (nginx, S3, a CDN): serves a folder
    with `Content-Length`, a strong `ETag` and `Last-Modified` (both change with the contents),
    honours `Range: bytes=N-` and `If-Range` (a stale validator gets the whole file), follows a
    `redirects` table (302, as release pages and CDNs do), answers HEAD; counts requests and
    injects faults.

    Faults: one-shot `faults[path]` ("500", "drop": half the body, then the connection goes
    away), persistent `override[path]` (other contents), `slow[path] = (bytes, seconds)` (a
    chunk every interval, until `slow_until`, after which the path is 404: every request loop
    ends), `dribble[path] = (bytes, seconds)` (each answer: wait, a few bytes, then the
    connection goes away; 404 after `slow_until`), `unannounced` (paths sent without
    `Content-Length`, ended by closing the connection). Behaviours: `validators` ("etag": ETag
    and Last-Modified, "last-modified", None), `ranges` (False: Range ignored, like
    `python -m http.server`), `if_range` (False: Range honoured even when If-Range is stale)."""

    def __init__(self, root: Path):
        self.root = root
        self.requests = []  # (path, Range header or None)
        self.headers = []  # (path, {header: value}) of every request
        self.faults = {}
        self.override = {}
        self.redirects = {}
        self.slow = {}
        self.dribble = {}
        self.unannounced = set()
        self.slow_until = float("inf")
        self.validators = "etag"
        self.ranges = True
        self.if_range = True
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head=False):
                path = self.path.split("?")[0].lstrip("/")
                server.requests.append((path, self.headers.get("Range")))
                server.headers.append((path, {k.lower(): v for k, v in self.headers.items()}))
                fault = server.faults.get(path, []).pop(0) if server.faults.get(path) else None
                if fault == "500":
                    return self.empty(500)
                if path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.override.get(path)
                if body is None:
                    file = server.root / path
                    if not file.is_file():
                        return self.empty(404)
                    body = file.read_bytes()
                if (path in server.slow or path in server.dribble) and time.monotonic() > server.slow_until:
                    return self.empty(404)
                digest = hashlib.sha256(body).hexdigest()
                etag = f'"{digest[:20]}"'
                modified = email.utils.formatdate(1.6e9 + int(digest[:7], 16), usegmt=True)
                start = 0
                rng = self.headers.get("Range")
                if rng and server.ranges and rng.startswith("bytes=") and rng.endswith("-"):
                    validator = self.headers.get("If-Range")
                    if validator is None or not server.if_range or validator in (etag, modified):
                        start = int(rng[len("bytes="):-1])
                if start >= len(body) > 0:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if start > 0:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                if server.validators == "etag":
                    self.send_header("ETag", etag)
                if server.validators in ("etag", "last-modified"):
                    self.send_header("Last-Modified", modified)
                if server.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if path in server.unannounced:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if head:
                    return
                rest = body[start:]
                try:
                    if fault == "drop":
                        self.cut(rest[:len(rest) // 2])
                    elif path in server.dribble:
                        n, wait = server.dribble[path]
                        time.sleep(wait)
                        self.cut(rest[:n])
                    elif path in server.slow:
                        n, wait = server.slow[path]
                        for i in range(0, len(rest), n):
                            if time.monotonic() > server.slow_until:
                                return self.cut(b"")
                            self.wfile.write(rest[i:i + n])
                            self.wfile.flush()
                            time.sleep(wait)
                    else:
                        self.wfile.write(rest)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def empty(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def cut(self, data):
                """Sends `data`, then the connection goes away."""
                self.wfile.write(data)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def count(self, path=None):
        return len([r for r in self.requests if path is None or r[0] == path])

    def sent(self, path):
        """The headers of every request for `path`, in order (names in lower case)."""
        return [h for p, h in self.headers if p == path]

    def stop(self):
        self.slow_until = 0.0  # slow answers in flight end
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
    for var in ("ZELOS_OFFLINE", "ZELOS_HUB_TTL", "ZELOS_HUB_RETRIES", "ZELOS_HUB_TIMEOUT", "ZELOS_HUB_DEADLINE",
                "ZELOS_HUB_MIN_RATE", "ZELOS_HUB_RATE_WINDOW"):
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


# -- downloads: the deadline and the minimum rate --------------------------------------------------
def fetch_error(reference):
    """The HubError of fetching `reference`, and how long it took."""
    start = time.monotonic()
    with pytest.raises(zhub.HubError) as e:
        zelos.get_emulator(reference)
    return str(e.value), time.monotonic() - start


def test_a_trickling_hub_is_stopped_by_the_minimum_rate(env, server, monkeypatch):
    # One byte every 50 ms (20 B/s): every read brings bytes, so the read timeout never fires.
    path = archive_path(NEWEST)
    server.slow[path] = (1, 0.05)
    server.slow_until = time.monotonic() + 12  # then 404: the test ends whatever the client does
    monkeypatch.setenv("ZELOS_HUB_TIMEOUT", "3")
    monkeypatch.setenv("ZELOS_HUB_MIN_RATE", "1000")
    monkeypatch.setenv("ZELOS_HUB_RATE_WINDOW", "1")
    message, took = fetch_error(f"hub:{NAME}")
    assert took < 6, took
    assert f"{server.url}{path}: too slow:" in message, message
    assert "below the minimum of 1000 B/s averaged over 1 s" in message, message
    assert "ZELOS_HUB_MIN_RATE=1000" in message and "ZELOS_HUB_MIN_RATE=0" in message, message
    assert re.search(rf"; \d+ of {(server.root / path).stat().st_size} bytes received in 1\.\d s", message), message
    assert "the hub was too slow" in message
    assert server.count(path) == 1  # a trickle is not retried


def test_a_download_that_never_ends_is_stopped_by_the_deadline(env, server, monkeypatch):
    # 40 chunks a tenth of a second apart: 4 s, fast enough for the minimum rate, too slow for a
    # 1.5 s deadline.
    path = archive_path(NEWEST)
    size = (server.root / path).stat().st_size
    server.slow[path] = (size // 40 + 1, 0.1)
    server.slow_until = time.monotonic() + 12
    monkeypatch.setenv("ZELOS_HUB_DEADLINE", "1.5")
    monkeypatch.setenv("ZELOS_HUB_RATE_WINDOW", "0.5")
    monkeypatch.setenv("ZELOS_HUB_MIN_RATE", str(size // 10))
    message, took = fetch_error(f"hub:{NAME}")
    assert 1.4 < took < 4, took
    assert f"{server.url}{path}: the deadline of 1.5 s for the whole download passed (ZELOS_HUB_DEADLINE=1.5" in message
    assert re.search(rf"; \d+ of {size} bytes received in 1\.\d s", message), message


def test_resumed_attempts_that_each_bring_a_few_bytes_are_bounded_by_the_deadline(env, server, monkeypatch):
    # Every answer: a short wait, 16 bytes, and the connection goes away. Each attempt progresses,
    # so none uses up a retry; the deadline still ends the download.
    path = archive_path(NEWEST)
    server.dribble[path] = (16, 0.05)
    server.slow_until = time.monotonic() + 30
    monkeypatch.setenv("ZELOS_HUB_DEADLINE", "1")
    message, took = fetch_error(f"hub:{NAME}")
    assert took < 3, took
    assert "the deadline of 1 s for the whole download passed (ZELOS_HUB_DEADLINE=1" in message, message
    gets = server.sent(path)
    assert 3 <= len(gets) <= 25 and all("if-range" in h for h in gets[1:]), len(gets)


def test_the_default_limits_are_reported(monkeypatch):
    for var in ("ZELOS_HUB_DEADLINE", "ZELOS_HUB_MIN_RATE", "ZELOS_HUB_RATE_WINDOW"):
        monkeypatch.delenv(var, raising=False)
    c = zhub.config()
    assert c["deadline"] == "auto" and c["min_rate"] == 4096 and c["rate_window"] == 30
    monkeypatch.setenv("ZELOS_HUB_DEADLINE", "0")
    monkeypatch.setenv("ZELOS_HUB_MIN_RATE", "0")
    monkeypatch.setenv("ZELOS_HUB_RATE_WINDOW", "5")
    c = zhub.config()
    assert c["deadline"] is None and c["min_rate"] == 0 and c["rate_window"] == 5


# -- downloads: nothing left behind, no splicing ---------------------------------------------------
@pytest.mark.parametrize("how", ["short", "short, unannounced", "long"])
def test_a_file_of_the_wrong_size_is_refused_at_once_and_nothing_is_kept(env, server, hub_dir, monkeypatch, how):
    path = archive_path(NEWEST)
    good = (hub_dir / path).read_bytes()
    server.override[path] = good[:-100] if how.startswith("short") else good + b"\0" * 100
    if "unannounced" in how:
        server.unannounced.add(path)
    monkeypatch.setenv("ZELOS_HUB_RETRIES", "1")
    message, _ = fetch_error(f"hub:{NAME}")
    found = len(good) - 100 if how.startswith("short") else len(good) + 100
    assert f"{found} bytes received where the index says {len(good)}; refused, nothing was kept" in message, message
    assert server.count(path) == 1
    assert leftovers(env) == []


def test_a_partial_file_is_not_spliced_with_a_changed_file(env, server, hub_dir, monkeypatch):
    # A download of a wrong file (same size) fails on the network half way: its partial file is
    # kept with the server's ETag. The hub then serves the right file: the next fetch must not
    # append the right file's tail to the wrong file's head.
    path = archive_path(NEWEST)
    good = (hub_dir / path).read_bytes()
    wrong = bytearray(good)
    wrong[10] ^= 0xFF
    server.override[path] = bytes(wrong)
    server.faults[path] = ["drop", "500"]
    monkeypatch.setenv("ZELOS_HUB_RETRIES", "0")
    message, _ = fetch_error(f"hub:{NAME}")
    assert "unreachable after 2 attempt(s)" in message
    assert [p.suffix for p in (env / ".partial").iterdir()] == [".part"]
    assert [p.suffix for p in (env / ".resume").iterdir()] == [".json"]
    del server.override[path]
    before = server.count(path)
    assert zelos.get_emulator(f"hub:{NAME}").sha256 == hashlib.sha256(good).hexdigest()
    resumed = server.sent(path)[before:]
    assert len(resumed) == 1 and "range" in resumed[0] and resumed[0]["if-range"].startswith('"')
    assert leftovers(env) == [f"{NAME}/{NEWEST}/entry.json", f"{NAME}/{NEWEST}/{NAME}.tar.gz"]


def test_a_server_that_ignores_if_range_is_caught_by_its_etag(env, server, hub_dir, monkeypatch):
    path = archive_path(NEWEST)
    good = (hub_dir / path).read_bytes()
    server.override[path] = good[:20] + bytes(len(good) - 20)  # same size, other contents
    server.faults[path] = ["drop", "500"]
    server.if_range = False  # answers 206 from the new file whatever If-Range says
    monkeypatch.setenv("ZELOS_HUB_RETRIES", "0")
    fetch_error(f"hub:{NAME}")
    del server.override[path]
    monkeypatch.setenv("ZELOS_HUB_RETRIES", "1")
    before = server.count(path)
    assert zelos.get_emulator(f"hub:{NAME}").sha256 == hashlib.sha256(good).hexdigest()
    again = server.sent(path)[before:]
    assert len(again) == 2 and "range" in again[0] and "range" not in again[1]  # the 206's ETag differed
    assert leftovers(env) == [f"{NAME}/{NEWEST}/entry.json", f"{NAME}/{NEWEST}/{NAME}.tar.gz"]


@pytest.mark.parametrize("validators", [None, "last-modified"])
def test_resuming_needs_a_validator(env, server, hub_dir, monkeypatch, validators):
    # Without ETag or Last-Modified nothing says a partial file is of the same file: a failed
    # download leaves nothing, and a dropped connection starts over. Last-Modified suffices.
    server.validators = validators
    path = archive_path(NEWEST)
    server.faults[path] = ["drop"] if validators is None else ["drop", "500"]
    monkeypatch.setenv("ZELOS_HUB_RETRIES", "0")
    message, _ = fetch_error(f"hub:{NAME}")
    if validators is None:
        assert "unreachable after 1 attempt(s)" in message and leftovers(env) == []
        assert "range" not in server.sent(path)[0]
    else:
        assert "unreachable after 2 attempt(s)" in message
        sent = server.sent(path)
        assert sent[1]["if-range"] == email.utils.formatdate(
            1.6e9 + int(hashlib.sha256((hub_dir / path).read_bytes()).hexdigest()[:7], 16), usegmt=True)
        assert len(leftovers(env)) == 2  # the partial file and its record
    before = server.count(path)
    assert zelos.get_emulator(f"hub:{NAME}").spec["version"] == NEWEST
    resumed = server.sent(path)[before:]
    assert len(resumed) == 1 and (("range" in resumed[0]) == (validators is not None))


def test_a_partial_file_of_unknown_origin_is_not_resumed(env, server, hub_dir):
    # A partial file without its record (an older zelos, a copied cache): started over; one with
    # every byte but the wrong ones: replaced, with no failed attempt.
    index = json.loads((hub_dir / "index.json").read_text())
    sha = {v: index["emulators"][NAME]["versions"][v]["sha256"] for v in ("0.0.2", "0.0.9")}
    size = index["emulators"][NAME]["versions"]["0.0.9"]["size"]
    (env / ".partial").mkdir(parents=True)
    (env / ".partial" / f"{NAME}@0.0.2.{sha['0.0.2'][:16]}.part").write_bytes(b"x" * 100)
    (env / ".partial" / f"{NAME}@0.0.9.{sha['0.0.9'][:16]}.part").write_bytes(b"y" * size)
    assert zelos.get_emulator(f"hub:{NAME}@0.0.2").spec["version"] == "0.0.2"
    assert zelos.get_emulator(f"hub:{NAME}@0.0.9").spec["version"] == "0.0.9"
    assert [h.get("range") for h in server.sent(archive_path("0.0.2")) + server.sent(archive_path("0.0.9"))] == [None, None]
    assert not (env / ".partial").exists() and not (env / ".resume").exists()


# -- a cached index with a bad entry -----------------------------------------------------------------
def bad_index(hub_dir, version="0.0.2"):
    index = json.loads((hub_dir / "index.json").read_text())
    index["emulators"][NAME]["versions"][version]["sha256"] = "0" * 64
    return json.dumps(index).encode()


def test_a_refused_download_against_a_cached_index_asks_for_the_index_again(env, server, hub_dir):
    server.override["index.json"] = bad_index(hub_dir)
    with pytest.raises(zhub.HubError, match="differs from the index's 0000") as e:
        zelos.get_emulator(f"hub:{NAME}@0.0.2")
    assert "cached" not in str(e.value) and server.count("index.json") == 1  # a fresh index: nothing to refresh
    # Within ZELOS_HUB_TTL the cached index is used: the refusal makes zelos ask again, once.
    with pytest.raises(zhub.HubError) as e:
        zelos.get_emulator(f"hub:{NAME}@0.0.2")
    message = str(e.value)
    assert "differs from the index's 0000" in message
    assert re.search(r"the index used was a copy cached \d+ s ago \(ZELOS_HUB_TTL=3600\); fetched again just now, "
                     r"the index lists the same file", message), message
    assert server.count("index.json") == 2
    del server.override["index.json"]  # the hub fixes its index
    assert zelos.get_emulator(f"hub:{NAME}@0.0.2").spec["version"] == "0.0.2"
    assert server.count("index.json") == 3
    assert leftovers(env) == [f"{NAME}/0.0.2/entry.json", f"{NAME}/0.0.2/{NAME}.tar.gz"]


def test_a_cached_index_that_cannot_be_refreshed_is_named_with_its_age_and_the_way_to_refresh(
        env, server, hub_dir, monkeypatch, capsys):
    server.override["index.json"] = bad_index(hub_dir)
    fetch_error(f"hub:{NAME}@0.0.2")
    del server.override["index.json"]
    server.faults["index.json"] = ["500"]
    monkeypatch.setenv("ZELOS_HUB_RETRIES", "0")
    message, _ = fetch_error(f"hub:{NAME}@0.0.2")
    assert "differs from the index's 0000" in message
    assert re.search(r"the index used was a copy cached \d+ s ago \(ZELOS_HUB_TTL=3600\), and fetching it again "
                     r"failed \(.*HTTP 500\); once the hub answers, refresh it with `zelos hub refresh` "
                     r"\(or set ZELOS_HUB_TTL=0 for one call\)", message), message
    assert cli.main(["hub", "refresh"]) == 0
    assert "index fetched afresh and cached (1 emulator(s), 4 version(s))" in capsys.readouterr().out
    before = server.count("index.json")
    assert zelos.get_emulator(f"hub:{NAME}@0.0.2").spec["version"] == "0.0.2"
    assert server.count("index.json") == before  # the refreshed index answered


# -- what publish advertises -------------------------------------------------------------------------
def region_of(points):
    return {"mean": points.mean(axis=0), "covariance": np.cov(points, rowvar=False), "points": points}


def training_points(n=60, seed=5):
    """Points in a small ellipsoid inside the box: the region is much smaller than the box."""
    rng = np.random.default_rng(seed)
    lo, hi = (np.array([testing.LCDM[k][i] for k in testing.LCDM]) for i in (0, 1))
    return (lo + hi) / 2 + rng.normal(size=(n, len(lo))) * (hi - lo) / 60


def published_entry(tmp_path, archive):
    out = zhub.publish(archive, tmp_path / "hub")
    index = json.loads((tmp_path / "hub" / "index.json").read_text())
    entry = index["emulators"][out["name"]]["versions"][out["version"]]
    assert entry == out["entry"]
    return entry


def test_publish_advertises_the_trust_region_the_router_uses(tmp_path):
    from zelos.routing import TrustRegion

    points = training_points()
    archive = make_archive(tmp_path / "a.tar.gz", "1.0.0", region=region_of(points))
    entry = published_entry(tmp_path, archive)
    region = TrustRegion.from_emulator(zelos.get_emulator(str(archive)))
    advertised = entry["trust_region"]
    assert advertised["methods"] == ["box", "mahalanobis"] == list(region.methods)
    assert advertised["training_points"] == len(points) and "skipped" not in advertised
    m = advertised["mahalanobis"]
    assert m["threshold"] == pytest.approx(region.mahalanobis_threshold, rel=1e-12)
    assert "chi-square(6) 0.999" in m["rule"]
    assert np.allclose(m["mean"], points.mean(axis=0), rtol=1e-12)
    cov = np.asarray(m["covariance"])
    assert np.allclose(cov, np.cov(points, rowvar=False), rtol=1e-12)
    # The box stays, labelled as what it is; the extent is the region's, far inside it.
    names = list(testing.LCDM)
    assert [(p["name"], p["min"], p["max"]) for p in entry["parameters"]] == [(k, *testing.LCDM[k]) for k in names]
    assert [p["name"] for p in advertised["extent"]] == names
    for j, p in enumerate(advertised["extent"]):
        lo, hi = testing.LCDM[names[j]]
        assert lo < p["min"] < p["max"] < hi and (p["max"] - p["min"]) < 0.5 * (hi - lo)
        # Tight: the ellipsoid's extreme point along parameter j is accepted just inside the
        # extent and refused just beyond it.
        direction = cov[:, j] / np.sqrt(cov[j, j]) * m["threshold"]
        inside, outside = np.asarray(m["mean"]) + direction * (1 - 1e-9), np.asarray(m["mean"]) + direction * (1 + 1e-6)
        assert inside[j] == pytest.approx(p["max"], rel=1e-8)
        assert region.decide(inside).inside and not region.decide(outside).inside
    corner = [testing.LCDM[k][0] for k in names]  # in the box, out of the region
    assert not region.decide(corner).inside and region.decide(corner).method == "mahalanobis"


def test_publish_advertises_hull_and_skipped_methods(tmp_path):
    points = training_points(n=40, seed=6)
    archive = make_archive(tmp_path / "h.tar.gz", "1.0.0", region=region_of(points),
                           trust="  method: [box, mahalanobis, hull]\n")
    advertised = published_entry(tmp_path, archive)["trust_region"]
    assert advertised["methods"] == ["box", "mahalanobis", "hull"]
    assert [(p["min"], p["max"]) for p in advertised["extent"]] == list(zip(points.min(axis=0), points.max(axis=0)))
    # A box-only archive (the spec asks for mahalanobis too): said, and the extent is the box.
    advertised = published_entry(tmp_path / "b", make_archive(tmp_path / "b.tar.gz", "1.0.0"))["trust_region"]
    assert advertised["methods"] == ["box"] and "training_points" not in advertised
    assert advertised["skipped"] == ["mahalanobis not checked: the archive holds no training mean and covariance (nor points)"]
    assert [(p["min"], p["max"]) for p in advertised["extent"]] == [tuple(v) for v in testing.LCDM.values()]


# -- the folder publish writes is the hub --------------------------------------------------------------
def test_publish_writes_exactly_the_folder_to_upload(hub_dir):
    index = json.loads((hub_dir / "index.json").read_text())
    urls = {e["url"] for emu in index["emulators"].values() for e in emu["versions"].values()}
    files = {str(p.relative_to(hub_dir)) for p in hub_dir.rglob("*") if p.is_file()}
    assert files == {"index.json"} | urls  # every file listed, nothing else (no temporary, hidden or lock files)
    assert all(not part.startswith(".") for f in files for part in Path(f).parts)


def test_the_uploaded_folder_works_behind_redirects_with_ranges_and_etags(hub_dir, tmp_path, monkeypatch):
    # Uploaded under a prefix of a static host whose archive URLs redirect to a storage path (as
    # release pages and CDNs do); one download drops half way and resumes through the redirect.
    site = tmp_path / "site"
    shutil.copytree(hub_dir, site / "zelos")
    (site / "objects").mkdir()
    path = f"zelos/{archive_path(NEWEST)}"
    shutil.copyfile(site / path, site / "objects" / "blob-1")
    server = Server(site)
    try:
        server.redirects[path] = "/objects/blob-1"
        server.faults["objects/blob-1"] = ["drop"]
        monkeypatch.setenv("ZELOS_HUB", server.url + "zelos")  # no trailing slash
        monkeypatch.setenv("ZELOS_CACHE", str(tmp_path / "cache"))
        emu = zelos.get_emulator(f"hub:{NAME}")
        assert emu.sha256 == hashlib.sha256((hub_dir / archive_path(NEWEST)).read_bytes()).hexdigest()
        assert server.count("zelos/index.json") == 1 and server.count(path) == 2
        blob = server.sent("objects/blob-1")
        assert len(blob) == 2 and "range" not in blob[0] and blob[1]["range"].startswith("bytes=")
        assert blob[1]["if-range"].startswith('"')
    finally:
        server.stop()


def test_python_http_server_serves_a_hub(hub_dir, tmp_path, monkeypatch):
    # `python -m http.server` in the uploaded folder: no ranges, no ETag, Last-Modified only.
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(hub_dir), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        monkeypatch.setenv("ZELOS_HUB", f"http://127.0.0.1:{httpd.server_address[1]}/")
        monkeypatch.setenv("ZELOS_CACHE", str(tmp_path / "cache"))
        assert zelos.get_emulator(f"hub:{NAME}").spec["version"] == NEWEST
        assert zhub.fetch(f"{NAME}@0.0.2").source == "download"
    finally:
        httpd.shutdown()
        httpd.server_close()
