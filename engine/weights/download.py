"""HTTP downloads of weights: resumable, bounded in time, one line per failure, never a socket when offline.

- :func:`offline` — ``A2V_OFFLINE=1`` (``python main.py --offline`` sets it) forbids every download; the
  check happens before any socket exists.
- :func:`onedrive_api_url` — a OneDrive sharing link → ``{api}/shares/u!{base64url(link), unpadded}/root/content``
  (Microsoft's documented encoding); the API answers with a redirect to the file. ``A2V_ONEDRIVE_API``
  overrides the API base (tests serve it from 127.0.0.1).
- :func:`mirror_url` — ``A2V_WEIGHTS_MIRROR=URL`` makes every fetch ask ``URL/<file name>`` first.
- :func:`download` — fetch one URL (following redirects) into a partial file, resuming with an HTTP
  ``Range`` request after a dropped connection (a few tries, each must make progress), with a tqdm
  progress bar on stderr. Raises :class:`DownloadError` with one line (HTTP status, no answer within the
  timeout, connection refused) that names the URL, never the partial file.
"""
from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from engine.weights.registry import WeightsError

DEFAULT_ONEDRIVE_API = "https://api.onedrive.com/v1.0"
DEFAULT_TIMEOUT_S = 30.0
USER_AGENT = "a2v-weights/1 (+python urllib)"
_BLOCK = 1 << 20


class DownloadError(WeightsError):
    """One URL could not be downloaded; ``str()`` is one line naming the URL and what happened."""


class OfflineError(DownloadError):
    """Downloads are forbidden (``--offline`` / ``A2V_OFFLINE=1``)."""


def offline() -> bool:
    """True when ``A2V_OFFLINE`` is set to anything but ``""``/``0`` (``python main.py --offline`` sets it)."""
    return os.environ.get("A2V_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


OFFLINE_REASON = "downloads are off (--offline / A2V_OFFLINE=1)"


def timeout_s() -> float:
    """Seconds without an answer before a download gives up (``A2V_DOWNLOAD_TIMEOUT``, default 30)."""
    try:
        return max(0.1, float(os.environ.get("A2V_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def onedrive_share_token(sharing_url: str) -> str:
    """``u!`` + unpadded base64url of the sharing URL (Microsoft's "Encoding sharing URLs" recipe)."""
    encoded = base64.b64encode(sharing_url.encode("utf-8")).decode("ascii")
    return "u!" + encoded.rstrip("=").replace("/", "_").replace("+", "-")


def onedrive_api_url(sharing_url: str) -> str:
    """The OneDrive API path that redirects to the shared file's content."""
    base = os.environ.get("A2V_ONEDRIVE_API") or DEFAULT_ONEDRIVE_API
    return f"{base.rstrip('/')}/shares/{onedrive_share_token(sharing_url)}/root/content"


def mirror_url(relative: str) -> Optional[str]:
    """``$A2V_WEIGHTS_MIRROR/<relative>`` (each path part URL-quoted), or None when no mirror is set."""
    base = os.environ.get("A2V_WEIGHTS_MIRROR", "").strip()
    if not base:
        return None
    return base.rstrip("/") + "/" + "/".join(urllib.parse.quote(part) for part in relative.split("/"))


def short_url(url: str) -> str:
    """The URL without its query (OneDrive API paths and CDN redirects carry long tokens)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path if len(parts.path) <= 80 else parts.path[:60] + "…" + parts.path[-16:]
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass
class Fetched:
    """What a finished download says about itself: the URL that served it and a hash the server published."""

    url: str
    final_url: str
    linked_sha256: Optional[str] = None
    hops: list = field(default_factory=list)


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib's own handler, and keeps each hop's headers (Hugging Face puts the
    sha256 of LFS files in ``X-Linked-Etag`` on the redirect, not on the file's answer)."""

    max_redirections = 10

    def __init__(self, hops: list) -> None:
        super().__init__()
        self.hops = hops

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hops.append((code, dict(headers.items())))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_SHA256 = re.compile(r'^(?:W/)?"?([0-9a-f]{64})"?$')


def _linked_sha256(headers_list) -> Optional[str]:
    for headers in headers_list:
        for key, value in headers.items():
            if key.lower() == "x-linked-etag":
                found = _SHA256.match(value.strip().lower())
                if found:
                    return found.group(1)
    return None


def _progress_bar(total: Optional[int], initial: int, label: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                file=sys.stderr, dynamic_ncols=True, leave=False)


def _network_reason(exc: BaseException, url: str, timeout: float) -> str:
    host = urllib.parse.urlsplit(url).netloc
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)) or isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {host} within {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve {host} (no network or no DNS)"
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} refused the connection"
    text = str(reason).strip() or type(reason).__name__
    return f"cannot reach {host} ({text[:120]})"


def _attempt(url: str, part: Path, label: str, progress: bool, timeout: float, hops: list) -> tuple[bool, str, dict]:
    """One request. Returns ``(complete, why_incomplete, final headers)``; raises DownloadError when the
    server refuses (HTTP error), never answers, or cannot be reached."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    opener = urllib.request.build_opener(_RecordingRedirects(hops))
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:  # the partial file is already whole (or longer): start again
            part.unlink()
            return False, "restart", {}
        raise DownloadError(f"HTTP {exc.code} {exc.reason} from {short_url(url)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(_network_reason(exc, url, timeout)) from None
    with response:
        headers = dict(response.headers.items())
        status = response.status
        start = 0
        if have and status == 206:
            found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            start = int(found.group(1)) if found else -1
            if start != have:  # a range we did not ask for: we cannot splice it in
                part.unlink()
                return False, "restart", headers
        length = response.headers.get("Content-Length", "")
        total = start + int(length) if length.isdigit() else None
        bar = _progress_bar(total, start, label, progress)
        interrupted = ""
        try:
            with open(part, "ab" if start else "wb") as out:
                while True:
                    try:
                        block = response.read(_BLOCK)
                    except (http.client.IncompleteRead, OSError, http.client.HTTPException) as exc:
                        interrupted = _network_reason(exc, url, timeout) if isinstance(
                            exc, (socket.timeout, TimeoutError)) else "the connection dropped"
                        break
                    if not block:
                        break
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    size = part.stat().st_size
    if total is not None and size < total:
        return False, interrupted or f"the connection dropped at {size} of {total} bytes", headers
    if total is not None and size > total:
        part.unlink()
        raise DownloadError(f"{short_url(url)} sent more bytes than it announced ({size} > {total})")
    if interrupted:
        return False, interrupted, headers
    return True, "", headers


def download(url: str, part: Path, label: str, progress: bool = True, timeout: Optional[float] = None,
             attempts: int = 5) -> Fetched:
    """Download ``url`` into ``part`` (appending to what is there: a resumed download).

    A dropped connection is resumed with a ``Range`` request, up to ``attempts`` tries while each one
    brings more bytes. Raises :class:`OfflineError` before any socket exists when :func:`offline`, and
    :class:`DownloadError` (one line, naming the URL) on HTTP errors, timeouts and unreachable hosts;
    what was received stays in ``part`` so the same command resumes it.
    """
    if offline():
        raise OfflineError(OFFLINE_REASON)
    timeout = timeout_s() if timeout is None else float(timeout)
    part.parent.mkdir(parents=True, exist_ok=True)
    hops: list = []
    why = ""
    for _ in range(max(1, attempts)):
        before = part.stat().st_size if part.exists() else 0
        hops.clear()
        complete, why, headers = _attempt(url, part, label, progress, timeout, hops)
        if complete:
            final = [h for _, h in hops] + [headers]
            return Fetched(url=url, final_url=url, linked_sha256=_linked_sha256(final), hops=list(hops))
        after = part.stat().st_size if part.exists() else 0
        if why != "restart" and after <= before:
            break  # no progress: stop instead of hammering the server
    raise DownloadError(f"download from {short_url(url)} did not finish ({why}); run the same command again "
                        f"to resume")
