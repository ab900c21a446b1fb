"""A local Hugging Face Hub look-alike for tests: the real `huggingface_hub` client talks to it.

Threaded http.server on 127.0.0.1 (random port). It speaks the parts of the Hub protocol the client
uses, as read from huggingface_hub's file_download.py, hf_api.py, _commit_api.py and lfs.py:

  HEAD/GET /{repo}/resolve/{rev}/{path}   small files: 200 + ETag (git blob sha1), X-Repo-Commit,
                                          Content-Length; LFS files (*.safetensors ...): 302 to the
                                          "CDN" + X-Linked-Etag (sha256), X-Linked-Size, X-Repo-Commit
  GET      /cdn/{sha256}                  the LFS blob, with Range support (resumed downloads). The CDN
                                          is addressed as http://localhost:PORT - another host than
                                          the endpoint, as on the real Hub, so the client stops at
                                          the redirect and reads the metadata from it
  GET      /api/models/{repo}[/revision/{rev}]      model_info (sha, siblings, blobs=true: lfs info)
  POST     /api/repos/create, /api/validate-yaml, /api/models/{repo}/preupload/{rev},
           /{repo}.git/info/lfs/objects/batch, PUT /lfs-upload/{oid}, POST /api/models/{repo}/commit/{rev}
  errors   X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound, as the Hub sends them

Every request is logged (`hub.requests`) so tests can count them; `hub.fail(...)` injects faults
(HTTP 500, a connection cut mid-body, a truncated body, corrupted bytes, a slow body).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".h5", ".bin", ".pth", ".pt", ".npz", ".onnx", ".tflite")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    commits: dict = field(default_factory=dict)     # sha -> {path: bytes}
    refs: dict = field(default_factory=dict)        # branch/tag -> sha
    history: list = field(default_factory=list)     # shas, oldest first

    def resolve(self, rev: str) -> str | None:
        if rev in self.refs:
            return self.refs[rev]
        if _COMMIT_RE.fullmatch(rev) and rev in self.commits:
            return rev
        return None


@dataclass
class Request:
    method: str
    path: str
    headers: dict


@dataclass
class Fault:
    method: str
    path_contains: str
    kind: str          # "500" | "cut" | "truncate" | "corrupt" | "slow"
    times: int = 1
    value: float = 0.0  # seconds for "slow"


class FakeHub:
    """In-memory Hub: repos with commits and refs, an LFS store, a request log and fault injection."""

    def __init__(self, token: str | None = None, cdn_host: str = "localhost"):
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}          # sha256 -> content
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.token = token                        # required to read private repos and to write
        self.cdn_host = cdn_host
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self._port = None
        self._connections: set = set()

    # --- lifecycle ---
    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and cut the kept-alive connections too: the endpoint is gone."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns = list(self._connections)
        for c in conns:
            try:
                c.shutdown(2)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cdn_url(self) -> str:
        return f"http://{self.cdn_host}:{self.port}"

    # --- content ---
    def add_repo(self, repo_id: str, files: dict[str, bytes] | None = None, *, private: bool = False,
                 message: str = "initial commit") -> str | None:
        with self._lock:
            self.repos.setdefault(repo_id, Repo(repo_id, private=private))
        return self.commit(repo_id, files, message) if files else None

    def commit(self, repo_id: str, files: dict[str, bytes] | None = None, message: str = "update",
               branch: str = "main", deleted=()) -> str:
        """A new commit on `branch` adding/replacing `files`; returns its sha."""
        with self._lock:
            repo = self.repos[repo_id]
            parent = repo.refs.get(branch)
            tree = dict(repo.commits.get(parent, {}))
            for p in deleted:
                tree.pop(p, None)
            tree.update(files or {})
            h = hashlib.sha1(json.dumps([parent, message, len(repo.history),
                                         sorted((p, sha256(d)) for p, d in tree.items())]).encode())
            sha = h.hexdigest()
            repo.commits[sha] = tree
            repo.refs[branch] = sha
            repo.history.append(sha)
            for p, d in tree.items():
                if p.endswith(LFS_SUFFIXES):
                    self.lfs[sha256(d)] = d
            return sha

    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return dict(repo.commits[repo.resolve(rev)])

    # --- observation and faults ---
    def count(self, method: str | None = None, contains: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if (method is None or r.method == method) and contains in r.path)

    def reset_log(self):
        with self._lock:
            self.requests.clear()

    def fail(self, method: str, path_contains: str, kind: str, times: int = 1, value: float = 0.0):
        with self._lock:
            self.faults.append(Fault(method, path_contains, kind, times, value))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.method == method and f.path_contains in path and f.times > 0:
                    f.times -= 1
                    return f
        return None


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with self.hub._lock:
            self.hub._connections.add(self.connection)

    def finish(self):
        with self.hub._lock:
            self.hub._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # --- plumbing ---
    def _log(self):
        with self.hub._lock:
            self.hub.requests.append(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head_only: bool = False,
              content_type: str = "application/json"):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", content_type)
        headers.setdefault("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if body and not head_only and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, code: str | None, message: str, headers: dict | None = None):
        h = dict(headers or {})
        if code:
            h["X-Error-Code"] = code
        h["X-Error-Message"] = message
        self._json(status, {"error": message}, h)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _authorized(self) -> bool:
        if self.hub.token is None:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {self.hub.token}"

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and not self._authorized()):
            # the Hub answers 401 + RepoNotFound for a private repo without a valid token
            self._error(401 if repo is not None else 404, "RepoNotFound", "Repository not found")
            return None
        return repo

    # --- routes ---
    def do_HEAD(self):
        self._log()
        self._route_get(head_only=True)

    def do_GET(self):
        self._log()
        self._route_get(head_only=False)

    def do_POST(self):
        self._log()
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/api/repos/create":
            return self._create_repo(json.loads(body or b"{}"))
        if path == "/api/validate-yaml":
            return self._json(200, {"errors": [], "warnings": []})
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/([^/]+)", path)
        if m:
            return self._preupload(m.group(1), unquote(m.group(2)), json.loads(body))
        m = re.fullmatch(r"/([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        if m:
            return self._lfs_batch(m.group(1), json.loads(body))
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/([^/]+)", path)
        if m:
            return self._commit(m.group(1), unquote(m.group(2)), body)
        self._error(404, None, f"no route for POST {path}")

    def do_PUT(self):
        self._log()
        path = urlsplit(self.path).path
        body = self._body()
        m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)
        if not m:
            return self._error(404, None, f"no route for PUT {path}")
        if sha256(body) != m.group(1):
            return self._error(400, None, "uploaded content does not match its oid")
        with self.hub._lock:
            self.hub.lfs[m.group(1)] = body
        self._send(200)

    def _route_get(self, head_only: bool):
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        m = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
        if m:
            return self._cdn(m.group(1), head_only)
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if m:
            return self._model_info(m.group(1), unquote(m.group(2) or "main"), "blobs" in query)
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            return self._resolve(m.group(1), unquote(m.group(2)), unquote(m.group(3)), head_only)
        self._error(404, None, f"no route for {self.command} {path}")

    def _resolve(self, repo_id: str, rev: str, filename: str, head_only: bool):
        fault = self.hub._take_fault(self.command, f"/{repo_id}/resolve/")
        if fault is not None and fault.kind == "500":
            return self._error(500, None, "Internal Error (injected)")
        repo = self._repo(repo_id)
        if repo is None:
            return
        commit = repo.resolve(rev)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        tree = repo.commits[commit]
        if filename not in tree:
            return self._error(404, "EntryNotFound", f"{filename} does not exist", {"X-Repo-Commit": commit})
        data = tree[filename]
        if filename.endswith(LFS_SUFFIXES):
            oid = sha256(data)
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()
            return self._send(302, b"", {
                "Location": f"{self.hub.cdn_url}/cdn/{oid}",
                "X-Repo-Commit": commit, "X-Linked-Etag": f'"{oid}"', "X-Linked-Size": str(len(data)),
                "ETag": f'"{git_blob_sha1(pointer)}"', "Content-Length": "0"}, head_only)
        self._send(200, data, {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": commit,
                               "Accept-Ranges": "bytes"}, head_only, content_type="application/octet-stream")

    def _cdn(self, oid: str, head_only: bool):
        data = self.hub.lfs.get(oid)
        if data is None:
            return self._error(404, None, "no such object")
        fault = self.hub._take_fault(self.command, f"/cdn/{oid}") if not head_only else None
        if fault is not None and fault.kind == "500":
            return self._error(500, None, "Internal Error (injected)")
        start = 0
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            start = int(m.group(1)) if m else 0
        body = data[start:]
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{oid}"', "Content-Length": str(len(body))}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if fault is not None and fault.kind == "truncate":   # a short body that says it is complete
            body = body[: len(body) // 2]
            headers["Content-Length"] = str(len(body))
        if fault is not None and fault.kind == "corrupt":    # same length, flipped bytes
            mid = len(body) // 2
            body = body[:mid] + bytes(b ^ 0xFF for b in body[mid:mid + 64]) + body[mid + 64:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head_only:
            return
        if fault is not None and fault.kind == "cut":          # connection dies mid-body
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if fault is not None and fault.kind == "slow":
            step = max(1, len(body) // 10)
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                time.sleep(fault.value / 10)
            return
        self.wfile.write(body)

    def _model_info(self, repo_id: str, rev: str, blobs: bool):
        repo = self._repo(repo_id)
        if repo is None:
            return
        commit = repo.resolve(rev)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        siblings = []
        for p, d in sorted(repo.commits[commit].items()):
            s = {"rfilename": p}
            if blobs:
                s.update(size=len(d), blobId=git_blob_sha1(d))
                if p.endswith(LFS_SUFFIXES):
                    s["lfs"] = {"size": len(d), "sha256": sha256(d), "pointerSize": 134}
            siblings.append(s)
        self._json(200, {"id": repo_id, "modelId": repo_id, "sha": commit, "private": repo.private,
                         "siblings": siblings, "tags": [], "downloads": 0, "likes": 0})

    # --- uploads ---
    def _create_repo(self, payload: dict):
        if not self._authorized():
            return self._error(401, None, "Invalid credentials in Authorization header")
        repo_id = f"{payload.get('organization')}/{payload['name']}" if payload.get("organization") else payload["name"]
        if repo_id in self.hub.repos:
            return self._error(409, None, "You already created this model repo", {})
        private = payload.get("private") or payload.get("visibility") == "private"
        self.hub.add_repo(repo_id, private=bool(private))
        self._json(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id})

    def _preupload(self, repo_id: str, rev: str, payload: dict):
        if not self._authorized():
            return self._error(401, None, "Invalid credentials in Authorization header")
        if self._repo(repo_id) is None:
            return
        files = [{"path": f["path"], "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular",
                  "shouldIgnore": False, "oid": None} for f in payload["files"]]
        self._json(200, {"files": files, "commitOid": self.hub.repos[repo_id].refs.get(rev)})

    def _lfs_batch(self, repo_id: str, payload: dict):
        if not self._authorized():
            return self._error(401, None, "Invalid credentials in Authorization header")
        if self._repo(repo_id) is None:
            return
        objects = []
        for o in payload["objects"]:
            entry = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.hub.lfs:
                entry["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{o['oid']}"}}
            objects.append(entry)
        self._json(200, {"transfer": "basic", "objects": objects})

    def _commit(self, repo_id: str, rev: str, body: bytes):
        if not self._authorized():
            return self._error(401, None, "Invalid credentials in Authorization header")
        repo = self._repo(repo_id)
        if repo is None:
            return
        files, deleted, message = {}, [], "commit"
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value.get("summary") or message
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                data = self.hub.lfs.get(value["oid"])
                if data is None:
                    return self._error(400, None, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = data
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
        sha = self.hub.commit(repo_id, files, message, branch=rev, deleted=deleted)
        self._json(200, {"success": True, "commitOid": sha, "commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}"})
