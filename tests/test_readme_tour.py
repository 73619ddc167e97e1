"""The README's tour, run as a reader runs it: every code block in order, against a fresh server
started as `make run` starts it (`hotswap migrate`, then `hotswap serve`: SQLite, the in-process
bus), so a README that drifts from the code fails the suite.

- Shell blocks (```bash, ```sh) run in one bash process (`set -euo pipefail`), so what a block
  sets (`TOKEN`, `H`, `API`, an id it captured) is there for the blocks after it.
- Python blocks run with this interpreter, from that same shell: they read what it exports.
- Every `curl` must be answered below 400, unless an HTML comment (invisible on the rendered
  page) right before the block says `<!-- tour: expect 422 -->`: then every answer in the block
  must have that status.
- A block that cannot run here says why: `<!-- tour: skip: it serves until stopped -->`. Any other
  block (another language, an indented code block) fails the test: nothing in the README goes
  untested by accident.

The reader's `127.0.0.1:8080` becomes the test server's address; `.venv/bin` is this
interpreter's directory; the working directory is a scratch one (the SDK example writes its
cache file there).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from hotswap.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
HOTSWAP = str(BIN / "hotswap")  # our own entry point, not user input
READER_ADDRESS = "127.0.0.1:8080"
SHELL = frozenset({"bash", "sh"})
MARKER = re.compile(r"^<!--\s*tour:\s*(?P<what>.*?)\s*-->\s*$", re.DOTALL)
SKIP = re.compile(r"^skip:\s*\S.*$")
EXPECT = re.compile(r"^expect\s+(?P<status>[1-5]\d\d)$")

# What the blocks run inside: `curl` keeps the reader's arguments and output, and checks the
# answer's status (a reader sees the problem+json; the test must stop there).
PRELUDE = r"""set -Eeuo pipefail
tour_line=0
tour_expect=
trap 'echo "README.md:$tour_line: the block failed at: $BASH_COMMAND" >&2' ERR
curl() {
  local body status
  body=$(mktemp)
  if ! status=$(command curl -o "$body" -w '%{http_code}' "$@"); then
    cat "$body"; rm -f "$body"
    echo "README.md:$tour_line: curl $* could not get an answer" >&2
    return 1
  fi
  # A reader's `| head` may stop reading early: that is no failure.
  (trap '' PIPE; cat "$body"; echo) 2>/dev/null || true
  rm -f "$body"
  if [[ -n $tour_expect && $status != "$tour_expect" ]] || [[ -z $tour_expect && $status -ge 400 ]]; then
    echo "README.md:$tour_line: curl $* answered $status, expected ${tour_expect:-below 400}" >&2
    return 1
  fi
}
"""


class TourError(AssertionError):
    """The README holds a block the tour can neither run nor knows to skip."""


@dataclass(frozen=True, slots=True)
class Block:
    line: int  # 1-based, the opening fence's
    language: str
    code: str
    skip: str | None = None  # why it is not run
    expect: str | None = None  # the status every curl in it must answer


def blocks_of(markdown: str) -> list[Block]:
    """The README's code blocks in order, each with what its marker says."""
    found: list[Block] = []
    pending: tuple[str, int] | None = None  # a marker's text and the line after it
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "html_block" and (marker := MARKER.match(token.content.strip())):
            _unused(pending)
            assert token.map is not None
            pending = (marker["what"], token.map[1])
            continue
        if token.type == "code_block":
            assert token.map is not None
            raise TourError(f"README.md:{token.map[0] + 1}: an indented code block: fence it (```bash, ```python)")
        if token.type != "fence":
            if token.map is not None and token.nesting != -1:
                _unused(pending)
                pending = None
            continue
        found.append(_block(token, pending))
        pending = None
    _unused(pending)
    return found


def _block(token: Token, pending: tuple[str, int] | None) -> Block:
    assert token.map is not None
    line, language = token.map[0] + 1, token.info.strip().split(" ")[0]
    if pending is not None and pending[1] != token.map[0]:
        _unused(pending)
    what = pending[0] if pending is not None else None
    if what is not None and SKIP.match(what):
        return Block(line, language, token.content, skip=what.removeprefix("skip:").strip())
    if language not in SHELL | {"python"}:
        raise TourError(f"README.md:{line}: a ```{language} block is not run: mark it <!-- tour: skip: why -->")
    if what is None:
        return Block(line, language, token.content)
    if (expected := EXPECT.match(what)) and language in SHELL:
        return Block(line, language, token.content, expect=expected["status"])
    raise TourError(f"README.md:{line}: unknown tour marker {what!r} (skip: why, or expect STATUS on a shell block)")


def _unused(pending: tuple[str, int] | None) -> None:
    if pending is not None:
        raise TourError(f"README.md:{pending[1]}: a tour marker must come right before the block it is for")


def tour_script(blocks: list[Block], address: str) -> str:
    """One bash script: the prelude, then each block run, with the reader's address replaced."""
    parts = [PRELUDE]
    for block in blocks:
        if block.skip is not None:
            continue
        code = block.code.replace(READER_ADDRESS, address)
        parts.append(f"tour_line={block.line}; tour_expect={block.expect or ''}")
        if block.language == "python":
            assert "TOUR_PYTHON_END" not in code
            parts.append(f"\"$TOUR_PYTHON\" - <<'TOUR_PYTHON_END'\n{code}TOUR_PYTHON_END")
        else:
            parts.append(code)
    return "\n".join(parts) + "\n"


# -- the parsing rules, on small documents ---------------------------------------------------------


def test_every_block_runs_unless_marked_and_markers_say_what_they_do() -> None:
    markdown = (
        "Text.\n\n```bash\nA=1\n```\n\n<!-- tour: skip: it serves until stopped -->\n```bash\nmake run\n```\n\n"
        "<!-- tour: expect 422 -->\n```sh\ncurl x\n```\n\n```python\nprint(1)\n```\n\n"
        "<!-- tour: skip: a diagram -->\n```text\n+--+\n```\n"
    )
    blocks = blocks_of(markdown)
    assert [(b.line, b.language, b.skip, b.expect) for b in blocks] == [
        (3, "bash", None, None),
        (8, "bash", "it serves until stopped", None),
        (13, "sh", None, "422"),
        (17, "python", None, None),
        (22, "text", "a diagram", None),
    ]
    script = tour_script(blocks, "127.0.0.1:9999")
    assert "make run" not in script
    assert "tour_line=13; tour_expect=422\ncurl x\n" in script
    assert "\"$TOUR_PYTHON\" - <<'TOUR_PYTHON_END'\nprint(1)\nTOUR_PYTHON_END" in script


@pytest.mark.parametrize(
    ("markdown", "problem"),
    [
        ("Text.\n\n    curl x\n", "README.md:3: an indented code block"),
        ("```yaml\na: 1\n```\n", "README.md:1: a ```yaml block is not run"),
        ("```\nplain\n```\n", "README.md:1: a ``` block is not run"),
        ("<!-- tour: skip: x -->\n\nText.\n\n```bash\nA=1\n```\n", "must come right before the block"),
        ("<!-- tour: skip: x -->\n", "must come right before the block"),
        ("<!-- tour: expect 422 -->\n```python\nx\n```\n", "unknown tour marker 'expect 422'"),
        ("<!-- tour: skip -->\n```bash\nx\n```\n", "unknown tour marker 'skip'"),
    ],
)
def test_a_block_the_tour_would_not_run_fails_it(markdown: str, problem: str) -> None:
    with pytest.raises(TourError, match=re.escape(problem)):
        blocks_of(markdown)


# -- the README itself -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def reader_env(tmp_path: Path) -> dict[str, str]:
    """`make run`'s environment: no HOTSWAP_* setting but a scratch database."""
    ours = {f"HOTSWAP_{name.upper()}" for name in Settings.model_fields}
    clean = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    return {**clean, "HOTSWAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hotswap.db'}"}


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30  # start-up: poll until it answers
    while True:
        try:
            httpx.get(url + "/health", timeout=1)
            return
        except httpx.TransportError:
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("curl") is None, reason="needs bash and curl")
def test_the_readme_tour_runs_top_to_bottom(tmp_path: Path, reader_env: dict[str, str]) -> None:
    blocks = blocks_of(README.read_text(encoding="utf-8"))
    assert any(READER_ADDRESS in b.code for b in blocks if b.skip is None), "the tour no longer names its server"
    workdir = tmp_path / "reader"
    (workdir / ".venv").mkdir(parents=True)
    (workdir / ".venv" / "bin").symlink_to(BIN)  # the reader's .venv/bin/hotswap
    subprocess.run([HOTSWAP, "migrate"], env=reader_env, check=True, capture_output=True)  # noqa: S603
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([HOTSWAP, "serve", "--port", str(port)], env=reader_env, stdout=log, stderr=log)  # noqa: S603
    try:
        _wait_until_up(server, f"http://127.0.0.1:{port}")
        script = tmp_path / "tour.sh"
        script.write_text(tour_script(blocks, f"127.0.0.1:{port}"), encoding="utf-8")
        ran = subprocess.run(  # noqa: S603
            ["bash", str(script)],  # noqa: S607
            cwd=workdir,
            env={**reader_env, "TOUR_PYTHON": sys.executable},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    served = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert ran.returncode == 0, (
        f"{ran.stdout[-6000:]}\n--- stderr:\n{ran.stderr[-4000:]}\n--- server:\n{served[-3000:]}"
    )
    # The SDK example's warnings (a refused sample, a failed refresh) reach stderr: there must be none.
    assert [line for line in ran.stderr.splitlines() if line.startswith("hotswap: ")] == []
