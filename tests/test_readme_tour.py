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
- What the README promises a block answers is checked by an HTML comment right after the block
  (no blank line between), one check a line:

      <!-- tour: answers
      curl 3: /status == "Approved"
      /liveVersion == "1.1.0"
      -->

  `POINTER == JSON`: the JSON Pointer (RFC 6901) into the answer of the block's last `curl`, or
  of its Nth (in the order they ran) with `curl N:`, must hold that JSON value (numbers by value, everything else by
  type and value, objects and arrays whole). After a Python block, `<!-- tour: prints` lists
  lines it must print, in that order (other lines may come between). A failing check names its
  README line, the request, what the README expects and what the server answered.

The reader's `127.0.0.1:8080` becomes the test server's address; `.venv/bin` is this
interpreter's directory; the working directory is a scratch one (the SDK example writes its
cache file there). Without bash or curl the tour is skipped, unless HOTSWAP_TEST_REQUIRE_TOOLS=1
(CI sets it) or HOTSWAP_TEST_REQUIRE_SERVICES=1: then it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from jsonpointer import JsonPointer, JsonPointerException, resolve_pointer
from markdown_it import MarkdownIt
from markdown_it.token import Token

from hotswap.settings import Settings
from tests.test_serve import _free_port

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
HOTSWAP = str(BIN / "hotswap")  # our own entry point, not user input
READER_ADDRESS = "127.0.0.1:8080"
SHELL = frozenset({"bash", "sh"})
MARKER = re.compile(r"^<!--\s*tour:\s*(?P<what>.*?)\s*-->\s*$", re.DOTALL)
SKIP = re.compile(r"^skip:\s*\S.*$")
EXPECT = re.compile(r"^expect\s+(?P<status>[1-5]\d\d)$")
AFTER = frozenset({"answers", "prints"})  # the markers that come after the block they check
CHECK = re.compile(r"^(?:curl\s+(?P<curl>[1-9]\d*)\s*:\s*)?(?P<pointer>/\S*)\s+==\s+(?P<value>\S.*)$")
MISSING = object()

# What the blocks run inside: `curl` keeps the reader's arguments and output, checks the answer's
# status (a reader sees the problem+json; the test must stop there), and keeps the answer, the
# block's Nth as N.body beside N.status and N.command, for the checks run afterwards. A block
# that ran to its end leaves `done`: checks are judged only on those.
PRELUDE = r"""set -Eeuo pipefail
tour_line=0
tour_expect=
trap 'echo "README.md:$tour_line: the block failed at: $BASH_COMMAND" >&2' ERR
tour_block() { tour_line=$1; tour_expect=$2; mkdir -p "$TOUR_ANSWERS/$1"; }
tour_done() { touch "$TOUR_ANSWERS/$tour_line/done"; }
curl() {
  local status n=1 dir="$TOUR_ANSWERS/$tour_line"
  while [[ -e $dir/$n.command ]]; do n=$((n + 1)); done
  printf '%s\n' "$*" >"$dir/$n.command"
  if ! status=$(command curl -o "$dir/$n.body" -w '%{http_code}' "$@"); then
    cat "$dir/$n.body" 2>/dev/null || true
    echo "README.md:$tour_line: curl $* could not get an answer" >&2
    return 1
  fi
  echo "$status" >"$dir/$n.status"
  # A reader's `| head` may stop reading early: that is no failure.
  (trap '' PIPE; cat "$dir/$n.body"; echo) 2>/dev/null || true
  if [[ -n $tour_expect && $status != "$tour_expect" ]] || [[ -z $tour_expect && $status -ge 400 ]]; then
    echo "README.md:$tour_line: curl $* answered $status, expected ${tour_expect:-below 400}" >&2
    return 1
  fi
}
"""


class TourError(AssertionError):
    """The README holds a block the tour can neither run nor knows to skip, or a malformed marker."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A value the README promises at a JSON Pointer in the answer of one of a block's curls."""

    line: int  # the README line that states it
    curl: int | None  # 1-based among the block's curls; None: its last
    pointer: str
    expected: object


@dataclass(frozen=True, slots=True)
class Printed:
    """A line the README promises a Python block prints."""

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Block:
    line: int  # 1-based, the opening fence's
    language: str
    code: str
    skip: str | None = None  # why it is not run
    expect: str | None = None  # the status every curl in it must answer
    answers: tuple[Answer, ...] = ()
    prints: tuple[Printed, ...] = ()


def blocks_of(markdown: str) -> list[Block]:
    """The README's code blocks in order, each with what its markers say."""
    found: list[Block] = []
    pending: tuple[str, int] | None = None  # a marker's text and the line after it
    fence_end: int | None = None  # the 0-based line after the last block's closing fence
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "html_block" and (marker := MARKER.match(token.content.strip())):
            assert token.map is not None
            if marker["what"].split(maxsplit=1)[0] in AFTER:
                if not found or fence_end != token.map[0]:
                    raise TourError(f"README.md:{token.map[0] + 1}: a tour check must come right after its block")
                found[-1] = _checked(found[-1], token, marker)
                fence_end = None  # one check marker per block
                continue
            _unused(pending)
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
        assert token.map is not None
        fence_end = token.map[1]
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
        raise TourError(
            f"README.md:{pending[1]}: a tour marker must come right before the block it is for (skip: why, "
            "expect STATUS) or right after the block it checks (answers, prints)"
        )


def _checked(block: Block, token: Token, marker: re.Match[str]) -> Block:
    """The block with the checks of the marker right after it: `answers` or `prints`, a check a line."""
    assert token.map is not None
    first = token.map[0] + 1 + token.content.strip()[: marker.start("what")].count("\n")
    lines = [(first + i, text.strip()) for i, text in enumerate(marker["what"].split("\n"))]
    verb, _, rest = lines[0][1].partition(" ")
    lines = [(n, text) for n, text in [(first, rest.strip()), *lines[1:]] if text]
    if not lines:
        raise TourError(f"README.md:{first}: a tour {verb} marker with nothing to check")
    if block.skip is not None:
        raise TourError(f"README.md:{first}: the block at line {block.line} is skipped: nothing to check")
    if verb == "prints":
        if block.language != "python":
            raise TourError(f"README.md:{first}: `prints` checks a python block; a shell block has `answers`")
        return replace(block, prints=tuple(Printed(n, text) for n, text in lines))
    if block.language not in SHELL:
        raise TourError(f"README.md:{first}: `answers` checks a shell block's curls; a python block has `prints`")
    return replace(block, answers=tuple(_answer(n, text) for n, text in lines))


def _answer(line: int, text: str) -> Answer:
    if (check := CHECK.match(text)) is None:
        raise TourError(f"README.md:{line}: a check is `[curl N:] /json/pointer == JSON`, not {text!r}")
    try:
        JsonPointer(check["pointer"])
        expected = json.loads(check["value"])
    except (JsonPointerException, ValueError) as exc:
        raise TourError(f"README.md:{line}: {text!r}: {exc}") from None
    return Answer(line, int(check["curl"]) if check["curl"] else None, check["pointer"], expected)


def tour_script(blocks: list[Block], address: str) -> str:
    """One bash script: the prelude, then each block run, with the reader's address replaced."""
    parts = [PRELUDE]
    for block in blocks:
        if block.skip is not None:
            continue
        code = block.code.replace(READER_ADDRESS, address)
        parts.append(f"tour_block {block.line} '{block.expect or ''}'")
        if block.language == "python":
            assert "TOUR_PYTHON_END" not in code
            parts.append(f'"$TOUR_PYTHON" - <<\'TOUR_PYTHON_END\' | tee "$TOUR_ANSWERS/{block.line}/output"')
            parts.append(f"{code}TOUR_PYTHON_END")
        else:
            parts.append(code)
        parts.append("tour_done")
    return "\n".join(parts) + "\n"


# -- the checks, judged on what the blocks left ----------------------------------------------------


def broken_promises(blocks: list[Block], answers: Path, address: str) -> list[str]:
    """Each check of a block that ran to its end and does not hold, naming its README line."""
    problems: list[str] = []
    for block in blocks:
        ran = answers / str(block.line)
        if not (ran / "done").exists():
            continue  # skipped, or the script stopped before its end: the script's failure says why
        problems += [problem for check in block.answers if (problem := _answer_problem(block, check, ran, address))]
        problems += _print_problems(block, ran)
    return problems


def _answer_problem(block: Block, check: Answer, ran: Path, address: str) -> str | None:
    count = len(list(ran.glob("*.status")))
    number = check.curl or count
    expected = _json(check.expected)
    if not 1 <= number <= count:
        return f"README.md:{check.line}: expects an answer to curl {number}; the block at line {block.line} ran {count}"
    command = " ".join((ran / f"{number}.command").read_text(encoding="utf-8").split())
    command = _short(re.sub(r"Bearer \S+", "Bearer ...", command.replace(address, READER_ADDRESS)))
    body = (ran / f"{number}.body").read_bytes().decode("utf-8", errors="replace")
    where = f"README.md:{check.line}: curl {number} of the block at line {block.line} (curl {command})"
    try:
        got = resolve_pointer(json.loads(body), check.pointer, MISSING)
    except ValueError:
        return f"{where}: expected {check.pointer} == {expected}, got an answer that is not JSON: {_short(body)}"
    if got is MISSING:
        return f"{where}: expected {check.pointer} == {expected}, got no {check.pointer} in {_short(body)}"
    if not _same(got, check.expected):
        return f"{where}: expected {check.pointer} == {expected}, got {_json(got)}"
    return None


def _print_problems(block: Block, ran: Path) -> list[str]:
    output = (ran / "output").read_text(encoding="utf-8") if (ran / "output").exists() else ""
    printed = [line.rstrip() for line in output.splitlines()]
    problems: list[str] = []
    at, previous = 0, None  # where the next line is looked for: after the last one found
    for check in block.prints:
        if check.text in printed[at:]:
            at, previous = printed.index(check.text, at) + 1, check.text
            continue
        after = f" after {previous!r}" if previous is not None else ""
        problems.append(f"README.md:{check.line}: the block at line {block.line} did not print {check.text!r}{after}")
    if problems:
        problems.append(f"README.md:{block.line}: the block printed {_short(output, 1000)!r}")
    return problems


def _same(got: object, expected: object) -> bool:
    """JSON equality: 1 and 1.0 are the same number, but never `true`; objects and arrays whole."""
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(_same(got[key], expected[key]) for key in got)
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(map(_same, got, expected))
    if _is_number(got) and _is_number(expected):
        return got == expected
    return type(got) is type(expected) and got == expected


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json(value: object) -> str:
    return _short(json.dumps(value))


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# -- the parsing rules and the checks, on small documents ------------------------------------------


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
    assert "tour_block 13 '422'\ncurl x\n\ntour_done\n" in script
    assert (
        "tour_block 17 ''\n\"$TOUR_PYTHON\" - <<'TOUR_PYTHON_END' | tee \"$TOUR_ANSWERS/17/output\"\n"
        "print(1)\nTOUR_PYTHON_END\ntour_done\n"
    ) in script


def test_a_marker_right_after_a_block_says_what_it_must_answer_or_print() -> None:
    markdown = (
        "<!-- tour: expect 422 -->\n```bash\ncurl a\ncurl b\n```\n"
        '<!-- tour: answers\ncurl 1: /items/0/status == "Approved"\n\n  /participants == 1\n'
        '/effectiveData == {"damage": 40} -->\n\n'
        '```bash\ncurl c\n```\n<!-- tour: answers /errors/0/loc == ["body", "environment"] -->\n'
        "```python\nprint(40)\n```\n<!-- tour: prints\nmatch 0 rifle damage 40\n  match 1 rifle damage 40\n-->\n"
    )
    first, second, third = blocks_of(markdown)
    assert first.expect == "422"
    assert first.answers == (
        Answer(line=7, curl=1, pointer="/items/0/status", expected="Approved"),
        Answer(line=9, curl=None, pointer="/participants", expected=1),
        Answer(line=10, curl=None, pointer="/effectiveData", expected={"damage": 40}),
    )
    assert second.answers == (Answer(line=15, curl=None, pointer="/errors/0/loc", expected=["body", "environment"]),)
    assert third.prints == (Printed(20, "match 0 rifle damage 40"), Printed(21, "match 1 rifle damage 40"))


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
        ("```bash\nx\n```\n\n<!-- tour: answers /a == 1 -->\n", "README.md:5: a tour check must come right after its"),
        ("<!-- tour: answers /a == 1 -->\n```bash\nx\n```\n", "README.md:1: a tour check must come right after its"),
        ("```bash\nx\n```\n<!-- tour: answers /a == 1 -->\n<!-- tour: answers /b == 2 -->\n", "README.md:5: a tour"),
        ("```bash\nx\n```\n<!-- tour: answers\n-->\n", "README.md:4: a tour answers marker with nothing to check"),
        ("```python\nx\n```\n<!-- tour: answers /a == 1 -->\n", "README.md:4: `answers` checks a shell block's"),
        ("```bash\nx\n```\n<!-- tour: prints 1 -->\n", "README.md:4: `prints` checks a python block"),
        ("<!-- tour: skip: x -->\n```bash\nx\n```\n<!-- tour: prints 1 -->\n", "line 2 is skipped: nothing to check"),
        ("```bash\nx\n```\n<!-- tour: answers\n/a == 1\nliveVersion == 1 -->\n", "README.md:6: a check is `[curl N:]"),
        ("```bash\nx\n```\n<!-- tour: answers\n/a = 1\n-->\n", "README.md:5: a check is `[curl N:]"),
        ("```bash\nx\n```\n<!-- tour: answers\ncurl 0: /a == 1\n-->\n", "README.md:5: a check is `[curl N:]"),
        ("```bash\nx\n```\n<!-- tour: answers\n/a == 1.1.0\n-->\n", "README.md:5: '/a == 1.1.0': Extra data"),
        ("```bash\nx\n```\n<!-- tour: answers\n/a~2 == 1\n-->\n", "README.md:5: '/a~2 == 1': Found invalid escape ~2"),
    ],
)
def test_a_block_or_marker_the_tour_cannot_use_fails_it(markdown: str, problem: str) -> None:
    with pytest.raises(TourError, match=re.escape(problem)):
        blocks_of(markdown)


def _ran(answers: Path, line: int, *replies: tuple[str, str], output: str | None = None) -> None:
    """What the tour script leaves for a block that ran: each curl's command and answer, its output."""
    ran = answers / str(line)
    ran.mkdir(parents=True)
    for number, (command, body) in enumerate(replies, start=1):
        (ran / f"{number}.command").write_text(command + "\n")
        (ran / f"{number}.body").write_text(body)
        (ran / f"{number}.status").write_text("200\n")
    if output is not None:
        (ran / "output").write_text(output)
    (ran / "done").touch()


def test_a_promise_the_answers_keep_is_no_problem(tmp_path: Path) -> None:
    blocks = blocks_of(
        '```bash\ncurl a\ncurl b\n```\n<!-- tour: answers\ncurl 1: /items/1/status == "Approved"\n'
        '/participants == 1\n/revenue == 4.99\n/ok == true\n/at == null\n/data == {"a": [1, "x"]}\n-->\n'
        "```python\nx\n```\n<!-- tour: prints\nmatch 0 rifle damage 40\nmatch 2 rifle damage 40\n-->\n"
    )
    _ran(
        tmp_path,
        1,
        ("-s a", '{"items": [{"status": "Pending"}, {"status": "Approved"}]}'),
        ("-s b", '{"participants": 1.0, "revenue": 4.99, "ok": true, "at": null, "data": {"a": [1.0, "x"]}}'),
    )
    output = (
        "rifle.eu is now at revision 3\nmatch 0 rifle damage 40\nmatch 1 rifle damage 40\nmatch 2 rifle damage 40\n"
    )
    _ran(tmp_path, 11, output=output)
    assert broken_promises(blocks, tmp_path, "127.0.0.1:9999") == []


def test_a_broken_promise_names_its_line_the_request_what_was_expected_and_what_came(tmp_path: Path) -> None:
    blocks = blocks_of(
        '```bash\ncurl a\ncurl b\n```\n<!-- tour: answers\ncurl 1: /status == "Approved"\n'
        '/participants == 1\n/revenue == 4.99\n/paid == true\n/missing == 0\ncurl 3: /status == "Applied"\n-->\n'
        "```bash\ncurl c\n```\n<!-- tour: answers /a == 1 -->\n"
        '```bash\ncurl d\n```\n<!-- tour: answers /liveVersion == "1.1.0" -->\n'
        "```python\nx\n```\n<!-- tour: prints\nmatch 0 rifle damage 40\nmatch 1 rifle damage 40\n-->\n"
    )
    _ran(
        tmp_path,
        1,
        (
            "-s http://127.0.0.1:9999/api/v1/approvals/7/approve -H Authorization: Bearer eyJ.x.y",
            '{"status": "Pending"}',
        ),
        ("-s b", '{"participants": 0, "revenue": "4.99", "paid": 1}'),
    )
    _ran(tmp_path, 13, ("-s c -i", "HTTP/1.1 200 OK\r\n\r\n{}"))
    # The block at line 17 did not run to its end (the script's own failure says why): not judged.
    (tmp_path / "17").mkdir()
    _ran(tmp_path, 21, output="match 0 rifle damage 30\nmatch 1 rifle damage 40\n")
    assert broken_promises(blocks, tmp_path, "127.0.0.1:9999") == [
        "README.md:6: curl 1 of the block at line 1 (curl -s http://127.0.0.1:8080/api/v1/approvals/7/approve "
        '-H Authorization: Bearer ...): expected /status == "Approved", got "Pending"',
        "README.md:7: curl 2 of the block at line 1 (curl -s b): expected /participants == 1, got 0",
        'README.md:8: curl 2 of the block at line 1 (curl -s b): expected /revenue == 4.99, got "4.99"',
        "README.md:9: curl 2 of the block at line 1 (curl -s b): expected /paid == true, got 1",
        "README.md:10: curl 2 of the block at line 1 (curl -s b): expected /missing == 0, got no /missing in "
        '{"participants": 0, "revenue": "4.99", "paid": 1}',
        "README.md:11: expects an answer to curl 3; the block at line 1 ran 2",
        "README.md:16: curl 1 of the block at line 13 (curl -s c -i): expected /a == 1, got an answer that is not "
        "JSON: HTTP/1.1 200 OK\r\n\r\n{}",
        "README.md:25: the block at line 21 did not print 'match 0 rifle damage 40'",
        "README.md:21: the block printed 'match 0 rifle damage 30\\nmatch 1 rifle damage 40\\n'",
    ]


def test_lines_a_block_must_print_come_in_order(tmp_path: Path) -> None:
    blocks = blocks_of("```python\nx\n```\n<!-- tour: prints\nsecond\nfirst\n-->\n")
    _ran(tmp_path, 1, output="first\nsecond\n")
    assert broken_promises(blocks, tmp_path, "127.0.0.1:9999") == [
        "README.md:6: the block at line 1 did not print 'first' after 'second'",
        "README.md:1: the block printed 'first\\nsecond\\n'",
    ]


@pytest.mark.parametrize("variable", ["HOTSWAP_TEST_REQUIRE_TOOLS", "HOTSWAP_TEST_REQUIRE_SERVICES"])
def test_ci_fails_the_tour_without_bash_or_curl_instead_of_skipping_it(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "curl" else f"/usr/bin/{tool}")
    monkeypatch.delenv("HOTSWAP_TEST_REQUIRE_TOOLS", raising=False)
    monkeypatch.delenv("HOTSWAP_TEST_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="the README tour needs curl"):
        _require_tools()
    monkeypatch.setenv(variable, "1")
    with pytest.raises(pytest.fail.Exception, match=f"the README tour needs curl, and {variable}=1 requires it"):
        _require_tools()


# -- tours against a running server ----------------------------------------------------------------


def _require_tools() -> None:
    """Without bash or curl the tour cannot run: a skip on a laptop, a failure where CI asks for them."""
    missing = [tool for tool in ("bash", "curl") if shutil.which(tool) is None]
    if not missing:
        return
    why = f"the README tour needs {' and '.join(missing)}"
    for variable in ("HOTSWAP_TEST_REQUIRE_TOOLS", "HOTSWAP_TEST_REQUIRE_SERVICES"):
        if os.environ.get(variable) == "1":
            pytest.fail(f"{why}, and {variable}=1 requires it", pytrace=False)
    pytest.skip(why)


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


def run_blocks(
    blocks: list[Block], address: str, tmp_path: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the blocks as the tour runs them, with `address` as the reader's server; the promises broken."""
    workdir, answers = tmp_path / "reader", tmp_path / "answers"
    (workdir / ".venv").mkdir(parents=True)
    (workdir / ".venv" / "bin").symlink_to(BIN)  # the reader's .venv/bin/hotswap
    answers.mkdir()
    script = tmp_path / "tour.sh"
    script.write_text(tour_script(blocks, address), encoding="utf-8")
    ran = subprocess.run(  # noqa: S603
        ["bash", str(script)],  # noqa: S607
        cwd=workdir,
        env={**env, "TOUR_PYTHON": sys.executable, "TOUR_ANSWERS": str(answers)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return ran, broken_promises(blocks, answers, address)


def test_the_readme_tour_runs_top_to_bottom_and_answers_what_it_says(
    tmp_path: Path, reader_env: dict[str, str]
) -> None:
    _require_tools()
    blocks = blocks_of(README.read_text(encoding="utf-8"))
    assert any(READER_ADDRESS in b.code for b in blocks if b.skip is None), "the tour no longer names its server"
    assert any(b.answers for b in blocks), "the tour no longer checks what its commands answer"
    assert any(b.prints for b in blocks), "the tour no longer checks what its Python prints"
    subprocess.run([HOTSWAP, "migrate"], env=reader_env, check=True, capture_output=True)  # noqa: S603
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([HOTSWAP, "serve", "--port", str(port)], env=reader_env, stdout=log, stderr=log)  # noqa: S603
    try:
        _wait_until_up(server, f"http://127.0.0.1:{port}")
        ran, problems = run_blocks(blocks, f"127.0.0.1:{port}", tmp_path, reader_env)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    # The SDK example's warnings (a refused sample, a failed refresh) reach stderr: there must be none.
    problems += [f"stderr: {line}" for line in ran.stderr.splitlines() if line.startswith("hotswap: ")]
    served = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    tail = [ran.stdout[-6000:], "--- stderr:", ran.stderr[-4000:], "--- server:", served[-3000:]]
    assert ran.returncode == 0, "\n".join([f"the script exited {ran.returncode}", *problems, "--- stdout:", *tail])
    assert problems == [], "\n".join([*problems, "--- stdout:", *tail])


def test_the_tour_keeps_every_answer_and_output_for_its_checks(tmp_path: Path, reader_env: dict[str, str]) -> None:
    """Through bash and curl, without a server: curl reads files here; a reader's `| head` cuts nothing."""
    blocks = blocks_of(
        '```bash\nprintf \'{"id": "NA-WEST"}\' >us-west.json; printf \'{"id": "APAC"}\' >apac.json\n'
        'curl -s "file://$PWD/us-west.json"\nREGION=$(curl -s "file://$PWD/apac.json" | head -c 3)\n```\n'
        '<!-- tour: answers\ncurl 1: /id == "NA-WEST"\n/id == "NA-EAST"\n-->\n\n'
        '```python\nprint("rifle damage", 30)\n```\n<!-- tour: prints rifle damage 40 -->\n'
    )
    _require_tools()
    ran, problems = run_blocks(blocks, "127.0.0.1:9", tmp_path, reader_env)
    assert ran.returncode == 0, ran.stderr
    assert problems == [
        'README.md:8: curl 2 of the block at line 1 (curl -s file://{}/apac.json): expected /id == "NA-EAST", '
        'got "APAC"'.format(tmp_path / "reader"),
        "README.md:14: the block at line 11 did not print 'rifle damage 40'",
        "README.md:11: the block printed 'rifle damage 30\\n'",
    ]
