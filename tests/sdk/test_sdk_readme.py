"""The SDK distribution's README (its page on a package index) shows code that works as written."""

from __future__ import annotations

import ast
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "sdk" / "python" / "README.md"


def test_the_readme_example_builds_a_client() -> None:
    [block] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    tree = ast.parse(block)
    # Up to the client's construction: starting it would reach for the example's host.
    upto = next(
        i for i, node in enumerate(tree.body) if isinstance(node, ast.Assign) and ast.unparse(node).startswith("hs =")
    )
    namespace: dict[str, object] = {"SERVER_TOKEN": "hst_example"}
    exec(compile(ast.Module(tree.body[: upto + 1], type_ignores=[]), str(README), "exec"), namespace)  # noqa: S102
    client = namespace["hs"]
    try:
        assert client.options.server_id == "gs-eu-1"  # type: ignore[attr-defined]
        assert client.options.registers  # type: ignore[attr-defined]
    finally:
        client.close()  # type: ignore[attr-defined]
