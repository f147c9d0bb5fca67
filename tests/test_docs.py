"""The docs stay true: README.md and docs/*.md against the real command line.

- Every `cnnlab ...` line of a shell code block parses against the real command line (unknown
  commands or options and bad values fail); nothing that needs a run folder or data is run.
- Every inline `cnnlab ...` command names real commands and options (inline code may use
  placeholders such as RUN or `data list/info/download`, so only names are checked there).
- The quick commands (models, summary, conv, explain) run, and the figures in their comment appear
  in what they print; a comment starting with `error:` expects exit status 2 and that message.
- Every run folder an example reads is created by an example before it in the same file.
- docs/cli.md has a section for every command that names each of its options.
- Relative links and their #anchors resolve; the tests docs/guarantees.md names exist.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from cnnlab.cli import _register_all, app, main

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}
QUICK = {"models", "summary", "conv", "explain"}
SHELL_OPERATORS = {">", ">>", "|", "&&", ";", "2>&1"}
FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:x\d+)*")


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    argv: tuple[str, ...]       # after `cnnlab`
    comment: str                # the shell comment after the command, if any
    fenced: bool                # from a code block (else inline code)

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: cnnlab {' '.join(self.argv)}"


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's command and its comment (a `#` outside quotes, at the start of a word)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1:].strip()
    return line, ""


def cnnlab_argv(command: str) -> tuple[str, ...] | None:
    """The arguments after the `cnnlab` word (or `-m cnnlab`), up to a shell operator; None if absent."""
    tokens = shlex.split(command)
    if "cnnlab" not in tokens:
        return None
    argv = tokens[tokens.index("cnnlab") + 1:]
    cut = next((i for i, t in enumerate(argv) if t in SHELL_OPERATORS), len(argv))
    return tuple(argv[:cut])


def examples(path: Path) -> list[Example]:
    found, lines, block = [], path.read_text().splitlines(), None
    i = 0
    while i < len(lines):
        start, text = i + 1, lines[i]
        i += 1
        if text.lstrip().startswith("```"):
            block = None if block is not None else text.strip().strip("`").strip()
            continue
        if block is None:
            for span in re.findall(r"`(cnnlab [^`]+)`", text):
                found.append(Example(path, start, tuple(shlex.split(span)[1:]), "", False))
            continue
        if block not in SHELL_BLOCKS:
            continue
        while text.rstrip().endswith("\\") and i < len(lines):
            text = text.rstrip()[:-1] + " " + lines[i]
            i += 1
        command, comment = split_comment(text.strip().removeprefix("$ "))
        argv = cnnlab_argv(command)
        if argv is not None:
            found.append(Example(path, start, argv, comment, True))
    return found


ALL = [e for path in DOCS for e in examples(path)]
FENCED = [e for e in ALL if e.fenced]


def root_command() -> Any:
    _register_all()
    return typer.main.get_command(app)


def parse(argv: tuple[str, ...]) -> Any:
    """The click context of the command `argv` names, parsed as `cnnlab` would (nothing runs)."""
    cmd, ctx, name, args = root_command(), None, "cnnlab", list(argv)
    while True:
        ctx = cmd.make_context(name, args, parent=ctx, resilient_parsing=False)
        if not hasattr(cmd, "commands"):
            return ctx
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
        name, cmd, args = cmd.resolve_command(ctx, [*protected, *ctx.args])


def leaf_commands(cmd: Any = None, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    cmd = cmd or root_command()
    if not hasattr(cmd, "commands"):
        return {path: cmd}
    return {p: c for name, sub in cmd.commands.items() for p, c in leaf_commands(sub, (*path, name)).items()}


def test_the_docs_have_commands_to_check() -> None:
    assert len(FENCED) > 50 and {e.path.name for e in FENCED} >= {"README.md", "cli.md", "recipes.md"}


@pytest.mark.parametrize("example", FENCED, ids=str)
def test_every_command_in_a_code_block_parses(example: Example, capsys: pytest.CaptureFixture) -> None:
    try:
        parse(example.argv)
    except typer.Exit as done:          # --help prints the help and exits 0
        assert done.exit_code == 0, example
    except Exception as err:            # click's UsageError: no such command or option, bad value
        pytest.fail(f"{example}: {getattr(err, 'format_message', lambda: err)()}")


def synopsis_names(argv: tuple[str, ...]) -> tuple[list[tuple[str, ...]], list[str]]:
    """Command paths (`data list/info` gives two) and the option names of an inline command."""
    words = []
    for token in argv:
        if token.startswith("-") or not re.fullmatch(r"[a-z][a-z0-9/-]*", token):
            break
        words.append(token.split("/"))
    options = [t.strip("[]").split("=")[0] for t in argv if re.match(r"\[?--?[a-zA-Z]", t)]
    paths = [()]
    for alternatives in words:
        paths = [(*p, w) for p in paths for w in alternatives]
    return paths, options


@pytest.mark.parametrize("example", [e for e in ALL if not e.fenced], ids=str)
def test_every_inline_command_names_real_commands_and_options(example: Example) -> None:
    commands = leaf_commands()
    paths, options = synopsis_names(example.argv)
    for path in paths:
        found = next((path[:n] for n in range(len(path), 0, -1) if path[:n] in commands), None)
        groups = {p[:len(path)] for p in commands if len(p) > len(path)}
        assert found or path in groups, f"{example}: no command `cnnlab {' '.join(path)}`"
        if found:
            names = {o for p in commands[found].params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
            assert set(options) <= names, f"{example}: unknown options {sorted(set(options) - names)}"


@pytest.mark.parametrize("example", [e for e in FENCED if e.argv and e.argv[0] in QUICK], ids=str)
def test_quick_commands_print_the_figures_the_docs_state(example: Example, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main(list(example.argv))
    out = capsys.readouterr()
    printed = out.out + out.err
    if example.comment.startswith("error:"):
        assert done.value.code == 2, f"{example}: expected an error"
        for part in example.comment.removeprefix("error:").split("..."):
            assert part.strip() in out.err, f"{example}: {part.strip()!r} not in {out.err!r}"
    else:
        assert done.value.code == 0, f"{example}: exit {done.value.code}\n{out.err}"
    for figure in (f.rstrip(",") for f in FIGURE.findall(example.comment)):
        assert re.search(rf"(?<![\d,.]){re.escape(figure)}(?![\d]|[,.]\d)", printed), \
            f"{example}: the docs say {figure}, the command prints:\n{printed}"


def created_runs(ctx: Any) -> list[str]:
    p = ctx.params
    if ctx.info_name == "train" and (p.get("run_dir") or p.get("name")):
        return [p["run_dir"] or f"{p.get('out') or 'runs'}/{p['name']}"]
    if ctx.info_name == "features" and p.get("out"):
        return [str(p["out"])]
    return []


def read_runs(ctx: Any) -> list[str]:
    values = []
    for key in ("run", "runs", "resume", "config", "weights"):
        value = ctx.params.get(key)
        values += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v is not None]
    return [v.rstrip("/") for v in values if v.split("/")[0] == "runs"]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_run_folder_an_example_reads_is_created_before(path: Path) -> None:
    created: list[str] = []
    for example in (e for e in FENCED if e.path == path):
        try:
            ctx = parse(example.argv)
        except typer.Exit:
            continue
        for run in read_runs(ctx):
            assert any(run == c or run.startswith(c + "/") or c.startswith(run + "/") for c in created), \
                f"{example}: no example before it creates {run}"
        created += [c.rstrip("/") for c in created_runs(ctx)]


def sections(path: Path) -> dict[str, str]:
    """Level-2 headings of a Markdown file and their text."""
    parts = re.split(r"^## (.+)$", path.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_cli_md_has_a_section_naming_every_command_and_option() -> None:
    cli = sections(ROOT / "docs" / "cli.md")
    for path, cmd in leaf_commands().items():
        heading = next((h for h in cli if path[0] in re.split(r"[ ,]+", h)), None)
        assert heading, f"docs/cli.md has no section for `cnnlab {' '.join(path)}`"
        for opt in (o for p in cmd.params for o in p.opts if o.startswith("--")):
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", cli[heading]), \
                f"docs/cli.md, section {heading!r}: `cnnlab {' '.join(path)} {opt}` is not described"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_links_between_the_docs_resolve(path: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name}: broken link {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
            assert anchor in {slug(h) for h in headings}, f"{path.name}: no heading for #{anchor} in {linked.name}"


def test_the_tests_guarantees_md_names_exist() -> None:
    named = re.findall(r"tests/(test_\w+\.py)::(test_\w+)", (ROOT / "docs" / "guarantees.md").read_text())
    assert len(named) > 30
    for file, test in named:
        source = ROOT / "tests" / file
        assert source.exists() and re.search(rf"def {test}\(", source.read_text()), f"tests/{file}::{test} does not exist"
