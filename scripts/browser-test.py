#!/usr/bin/env python3
"""Drives headless Chromium through glow-gpu serve's page, with chromedriver's W3C WebDriver
HTTP API spoken through urllib (the standard library only: no selenium, no websockets).

    browser-test.py --url http://127.0.0.1:PORT/ [--screenshots DIR]

Checks, each within a bounded wait: the sample grid appears and changes when the temperature
slider moves (arrow keys on the slider, as a person would); the interpolation row changes with
the steps slider; an uploaded PNG's reconstruction and bpd appear; the manipulated image changes
when a label slider moves; no panel shows an error. Saves screenshots of the page and of each
panel into DIR (serve-page.png, serve-sample.png, serve-interpolate.png, serve-manipulate.png,
serve-encode.png). Exit status 0 when every check passed.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
RIGHT, LEFT = "\ue014", "\ue012"


class WebDriver:
    """A chromedriver process and one session on headless Chromium."""

    def __init__(self, chromedriver, chromium):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                if self.call("GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"chromedriver did not answer on port {port} within 30 s")
            time.sleep(0.2)
        options = {"binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                                "--window-size=1400,1500", "--hide-scrollbars"]}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}").get("value", {})
            raise RuntimeError(f"WebDriver {method} {path}: {detail.get('error')}: {detail.get('message', '')[:300]}") from None

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def keys(self, element, text):
        self.s("POST", f"/element/{element}/value", {"text": text})

    def shot(self, path, element=None):
        data = self.s("GET", f"/element/{element}/screenshot" if element else "/screenshot")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def quit(self):
        try:
            self.s("DELETE", "")
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_for(what, predicate, timeout=60):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def png_file(path, size=28):
    """A gray PNG of a ring (a hand-drawn zero, more or less), written with zlib and struct."""
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            d = ((x - size / 2 + 0.5) ** 2 / 0.45 + (y - size / 2 + 0.5) ** 2) ** 0.5
            row.append(255 if abs(d - size * 0.32) < size * 0.08 else 0)
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--screenshots", help="folder for the screenshots (default: a temporary one)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = ap.parse_args()
    shots = args.screenshots or tempfile.mkdtemp(prefix="glow-serve-shots-")
    os.makedirs(shots, exist_ok=True)
    start = time.time()
    d = WebDriver(args.chromedriver, args.chromium)
    passed = []
    try:
        d.go(args.url)
        idle = lambda: d.js("return document.body.dataset.pending === '0'")
        src = lambda id_: d.js("return document.getElementById(arguments[0]).src", id_)

        # Sample: the grid appears; the temperature slider changes it.
        wait_for("the first sample grid", lambda: idle() and (src("sample-grid") or "").startswith("data:image/png"))
        before = src("sample-grid")
        slider = d.find("#temperature")
        d.keys(slider, RIGHT * 4)
        wait_for("a new grid after moving the temperature slider", lambda: idle() and src("sample-grid") != before)
        t = d.js("return document.getElementById('temperature-value').textContent")
        assert t == "0.90", f"the temperature shows {t}, expected 0.90 after four steps of 0.05 from 0.70"
        passed.append("temperature slider 0.70 → 0.90 changed the sample grid")

        # Interpolate: the row appears; the steps slider changes it.
        wait_for("the interpolation row", lambda: idle() and (src("interp-row") or "").startswith("data:image/png"))
        before = src("interp-row")
        d.keys(d.find("#steps"), LEFT * 3)
        wait_for("a new row after moving the steps slider", lambda: idle() and src("interp-row") != before)
        passed.append("steps slider 8 → 5 changed the interpolation row")

        # Encode: upload a PNG; its reconstruction and bpd appear.
        upload = os.path.join(tempfile.mkdtemp(prefix="glow-serve-upload-"), "ring.png")
        png_file(upload)
        d.keys(d.find("#encode-file"), upload)
        wait_for("the reconstruction of the upload", lambda: idle() and (src("encode-recon") or "").startswith("data:image/png"))
        bpd = float(d.js("return document.getElementById('encode-status').dataset.bpd"))
        assert 0 < bpd < 16, f"bpd {bpd} is not a plausible bits-per-dimension value"
        passed.append(f"uploaded a 28×28 PNG: reconstruction shown, {bpd:.3f} bpd")

        # Manipulate: the image appears; a label slider changes it.
        wait_for("the manipulated image", lambda: idle() and (src("manip-image") or "").startswith("data:image/png"))
        before = src("manip-image")
        first = d.find(".label-slider")
        label = d.js("return arguments[0].dataset.label", {ELEMENT: first})
        d.keys(first, RIGHT * 10)
        wait_for("a new image after moving a label slider", lambda: idle() and src("manip-image") != before)
        passed.append(f"label {label} slider 0 → 1.0 changed the manipulated image")

        errors = d.js("return [...document.querySelectorAll('.status.error')].map(e => e.id + ': ' + e.textContent)")
        assert not errors, f"panels show errors: {errors}"
        card = d.js("return document.getElementById('card').innerText")
        assert "last call" in card and "images/s" in card, f"the model card lacks the last call: {card}"
        passed.append("no panel shows an error; the model card shows the last call's images/s")

        d.js("window.scrollTo(0, 0)")
        d.shot(os.path.join(shots, "serve-page.png"))
        for panel in ["sample", "interpolate", "manipulate", "encode"]:
            d.shot(os.path.join(shots, f"serve-{panel}.png"), d.find(f"#panel-{panel}"))
    finally:
        d.quit()
    for p in passed:
        print(f"browser test: ok: {p}")
    print(f"browser test: {len(passed)} passed, 0 failed in {time.time() - start:.1f} s; screenshots in {shots}")


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, RuntimeError, OSError) as e:
        print(f"browser test: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
