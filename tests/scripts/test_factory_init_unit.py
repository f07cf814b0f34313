"""Pure parts of scripts/factory_init.py: comment syntax, injection, paths, atomic writes."""

from __future__ import annotations

import os
import stat

import pytest

from script_helpers import write

MARK = "TASK_ID:ABC123 \u2013 see .mission_control/tasks.json"


# -- comment syntax ------------------------------------------------------------------------


@pytest.mark.parametrize("path,expected", [
    ("src/a.ts", "// " + MARK),
    ("src/a.tsx", "// " + MARK),
    ("a.js", "// " + MARK),
    ("src/lib.rs", "// " + MARK),
    ("main.go", "// " + MARK),
    ("app.py", "# " + MARK),
    ("conf/app.yaml", "# " + MARK),
    ("ci.yml", "# " + MARK),
    ("run.sh", "# " + MARK),
    ("Cargo.toml", "# " + MARK),
    ("Dockerfile", "# " + MARK),
    ("Makefile", "# " + MARK),
    ("index.html", "<!-- " + MARK + " -->"),
    ("README.md", "<!-- " + MARK + " -->"),
    ("pom.xml", "<!-- " + MARK + " -->"),
    ("site.css", "/* " + MARK + " */"),
    ("migrations/0001.sql", "-- " + MARK),
    ("page.mdx", "{/* " + MARK + " */}"),
    ("settings.ini", "; " + MARK),
    ("notes.unknownext", "# " + MARK),
    ("UPPER.TS", "// " + MARK),
])
def test_marker_uses_the_comment_syntax_of_the_language(fi, path, expected):
    style = fi.comment_style_for(path)
    assert fi.format_marker("ABC123", style) == expected


def test_formats_without_comments_get_no_marker(fi):
    assert fi.comment_style_for("package.json") is None
    assert fi.comment_style_for("data/table.csv") is None


def test_extensionless_script_follows_its_shebang(fi):
    assert fi.comment_style_for("bin/tool", "#!/usr/bin/env node") == fi.SLASH
    assert fi.comment_style_for("bin/tool", "#!/usr/bin/env -S node --flag") == fi.SLASH
    assert fi.comment_style_for("bin/tool", "#!/bin/bash") == fi.HASH
    assert fi.comment_style_for("bin/tool", "plain text") == fi.FALLBACK_STYLE


# -- injection ------------------------------------------------------------------------------


def test_marker_goes_above_the_placeholder_with_its_indentation(fi):
    text = "function f() {\n    ###INIT###\n\t\t###LOGIC###\n}\n"
    new, statuses = fi.inject_markers(text, [("ABC123", "INIT"), ("DEF456", "LOGIC")],
                                      fi.SLASH)
    assert statuses == ["injected", "injected"]
    assert new == ("function f() {\n"
                   "    // TASK_ID:ABC123 \u2013 see .mission_control/tasks.json\n"
                   "    ###INIT###\n"
                   "\t\t// TASK_ID:DEF456 \u2013 see .mission_control/tasks.json\n"
                   "\t\t###LOGIC###\n}\n")


def test_injection_is_idempotent(fi):
    text = "a\n  ###X###\nb\n"
    once, first = fi.inject_markers(text, [("ABC123", "X")], fi.HASH)
    twice, second = fi.inject_markers(once, [("ABC123", "X")], fi.HASH)
    assert first == ["injected"] and second == ["present"]
    assert twice == once
    assert once.count("TASK_ID:ABC123") == 1


def test_existing_marker_in_another_comment_style_counts_as_present(fi):
    # The TypeScript original's first script wrote /* */ markers everywhere; they must not be duplicated.
    text = "/* TASK_ID:ABC123 \u2013 see .mission_control/tasks.json */\n###X###\n"
    new, statuses = fi.inject_markers(text, [("ABC123", "X")], fi.HASH)
    assert statuses == ["present"] and new == text


def test_marker_prefix_of_another_id_is_not_a_match(fi):
    text = "# TASK_ID:ABC1234 \u2013 see .mission_control/tasks.json\n###X###\n"
    new, statuses = fi.inject_markers(text, [("ABC123", "X")], fi.HASH)
    assert statuses == ["injected"]
    assert "TASK_ID:ABC123 " in new and "TASK_ID:ABC1234" in new


def test_marker_far_from_the_placeholder_does_not_count(fi):
    text = "# TASK_ID:ABC123 \u2013 old\ncode\n###X###\n"
    _, statuses = fi.inject_markers(text, [("ABC123", "X")], fi.HASH)
    assert statuses == ["injected"]


def test_two_tasks_on_one_line_both_get_markers_once(fi):
    text = "###A### ###B###\n"
    once, s1 = fi.inject_markers(text, [("AAA111", "A"), ("BBB222", "B")], fi.HASH)
    twice, s2 = fi.inject_markers(once, [("AAA111", "A"), ("BBB222", "B")], fi.HASH)
    assert s1 == ["injected", "injected"] and s2 == ["present", "present"]
    assert once == twice
    assert once.splitlines()[:2] == ["# TASK_ID:AAA111 \u2013 see .mission_control/tasks.json",
                                     "# TASK_ID:BBB222 \u2013 see .mission_control/tasks.json"]


@pytest.mark.parametrize("placeholder", ["A.*B", "(x)+[y]{2}", "$^\\d|", "a\\b", "?*+"])
def test_placeholders_are_matched_literally(fi, placeholder):
    text = f"xx\n###{placeholder}###\n"
    new, statuses = fi.inject_markers(text, [("ABC123", placeholder)], fi.HASH)
    assert statuses == ["injected"]
    assert new == f"xx\n# {MARK}\n###{placeholder}###\n"


def test_regex_like_placeholder_does_not_match_other_text(fi):
    text = "###AxB###\n###A.B###\n"
    new, statuses = fi.inject_markers(text, [("ABC123", "A.B")], fi.HASH)
    assert statuses == ["injected"]
    assert new == f"###AxB###\n# {MARK}\n###A.B###\n"
    _, statuses = fi.inject_markers("###AxB###\n", [("ABC123", "A.B")], fi.HASH)
    assert statuses == ["missing"]


def test_crlf_line_endings_are_preserved(fi):
    text = "line1\r\n  ###X###\r\nline3\r\n"
    new, _ = fi.inject_markers(text, [("ABC123", "X")], fi.HASH)
    assert new == f"line1\r\n  # {MARK}\r\n  ###X###\r\nline3\r\n"


def test_mixed_and_cr_only_endings_are_preserved(fi):
    text = "a\rb\n###X###\rc\r\n"
    new, _ = fi.inject_markers(text, [("ABC123", "X")], fi.HASH)
    assert new == f"a\rb\n# {MARK}\r###X###\rc\r\n"


def test_placeholder_on_last_line_without_newline(fi):
    new, _ = fi.inject_markers("a\r\n###X###", [("ABC123", "X")], fi.HASH)
    assert new == f"a\r\n# {MARK}\r\n###X###"
    new, _ = fi.inject_markers("###X###", [("ABC123", "X")], fi.HASH)
    assert new == f"# {MARK}\n###X###"


def test_only_the_first_occurrence_is_marked(fi):
    new, _ = fi.inject_markers("###X###\n###X###\n", [("ABC123", "X")], fi.HASH)
    assert new.count("TASK_ID") == 1 and new.startswith("# TASK_ID")


def test_missing_placeholder_and_no_comment_syntax(fi):
    text = '{"k": "###X###"}\n'
    assert fi.inject_markers(text, [("ABC123", "Y")], fi.HASH) == (text, ["missing"])
    assert fi.inject_markers(text, [("ABC123", "X")], None) == (text, ["no_comment_syntax"])


def test_form_feed_and_unicode_separators_are_not_line_breaks(fi):
    text = "a\x0cb\u2028c\n###X###\n"
    new, _ = fi.inject_markers(text, [("ABC123", "X")], fi.HASH)
    assert new == f"a\x0cb\u2028c\n# {MARK}\n###X###\n"


def test_split_lines(fi):
    assert fi.split_lines("a\r\nb\rc\nd") == ["a\r\n", "b\r", "c\n", "d"]
    assert fi.split_lines("a\n\n") == ["a\n", "\n"]
    assert fi.split_lines("") == []


# -- encodings ------------------------------------------------------------------------------


def test_utf8_bom_and_latin1_round_trip(fi):
    for data in ["h\u00e9llo \u2603\n".encode(), b"\xef\xbb\xbfbom\n", b"caf\xe9 latin-1\n"]:
        text, bom, errors = fi.decode_text(data)
        assert fi.encode_text(text, bom, errors) == data
    assert fi.decode_text(b"caf\xe9")[2] == "surrogateescape"


def test_non_utf8_file_gets_an_ascii_marker(fi):
    text, bom, errors = fi.decode_text(b"caf\xe9\n###X###\n")
    new, _ = fi.inject_markers(text, [("ABC123", "X")], fi.HASH, ascii_only=errors != "strict")
    data = fi.encode_text(new, bom, errors)
    assert data == b"caf\xe9\n# TASK_ID:ABC123 - see .mission_control/tasks.json\n###X###\n"


# -- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    "/etc/passwd", "../outside.txt", "src/../../outside.txt", "src/..", "..", "",
    "C:/Windows/win.ini", "src\\..\\..\\x", "~/x", ".git/hooks/pre-commit",
    ".mission_control/tasks.json", "a\x00b", "./", None, 42,
])
def test_unsafe_paths_are_refused(fi, tmp_path, bad):
    root = os.path.realpath(tmp_path)
    with pytest.raises(fi.UnsafePath):
        fi.resolve_task_path(root, bad)


def test_paths_are_normalised(fi, tmp_path):
    root = os.path.realpath(tmp_path)
    real, rel = fi.resolve_task_path(root, "./src//a.ts")
    assert rel == "src/a.ts" and real == os.path.join(root, "src", "a.ts")


def test_symlinks_leading_outside_are_refused(fi, tmp_path):
    outside = tmp_path / "outside"
    write(outside / "secret.py", "###X###\n")
    root = tmp_path / "checkout"
    (root / "src").mkdir(parents=True)
    (root / "src" / "linkdir").symlink_to(outside)
    (root / "src" / "link.py").symlink_to(outside / "secret.py")
    (root / "src" / "dangling.py").symlink_to(outside / "nope.py")
    (root / "gitlink").symlink_to(root / ".git")
    real_root = os.path.realpath(root)
    for path in ("src/linkdir/secret.py", "src/link.py", "src/dangling.py", "gitlink/config"):
        with pytest.raises(fi.UnsafePath):
            fi.resolve_task_path(real_root, path)


def test_symlink_inside_the_checkout_resolves_to_its_target(fi, tmp_path):
    write(tmp_path / "real" / "a.py", "x\n")
    (tmp_path / "alias.py").symlink_to(tmp_path / "real" / "a.py")
    real, _ = fi.resolve_task_path(os.path.realpath(tmp_path), "alias.py")
    assert real == os.path.realpath(tmp_path / "real" / "a.py")


# -- atomic writes and file handling ---------------------------------------------------------


def test_atomic_write_keeps_mode_and_leaves_no_temp_file(fi, tmp_path):
    target = write(tmp_path / "run.sh", "old\n", mode=0o751)
    fi.atomic_write(str(target), b"new\n", like=os.stat(target))
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o751
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sh"]


def test_failed_atomic_write_leaves_the_original_untouched(fi, tmp_path, monkeypatch):
    target = write(tmp_path / "a.py", "original\n")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fi.os, "replace", boom)
    with pytest.raises(OSError):
        fi.atomic_write(str(target), b"half", like=os.stat(target))
    monkeypatch.undo()
    assert target.read_text() == "original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]


def make_injector(fi, root):
    return fi.Injector(os.path.realpath(root), dry_run=False)


def test_injector_reads_and_writes_each_file_once(fi, tmp_path, monkeypatch):
    write(tmp_path / "a.py", "###A###\n###B###\n###C###\n")
    writes = []
    real_write = fi.atomic_write
    monkeypatch.setattr(fi, "atomic_write", lambda p, d, **kw: (writes.append(p),
                                                                 real_write(p, d, **kw)))
    tasks = [{"uuid": f"T{i}", "file_path": "a.py", "placeholder": p}
             for i, p in enumerate("ABC")]
    results = make_injector(fi, tmp_path).process(tasks)
    assert [r.outcome for r in results] == ["injected"] * 3
    assert len(writes) == 1
    assert (tmp_path / "a.py").read_text().count("TASK_ID:") == 3


def test_injector_preserves_mode_utf8_and_symlinks(fi, tmp_path):
    write(tmp_path / "bin" / "tool.sh", "#!/bin/sh\n# \u00e9t\u00e9 \u2603\n###RUN###\n",
          mode=0o755)
    (tmp_path / "tool-link.sh").symlink_to(tmp_path / "bin" / "tool.sh")
    results = make_injector(fi, tmp_path).process(
        [{"uuid": "ABC123", "file_path": "tool-link.sh", "placeholder": "RUN"}])
    assert results[0].outcome == "injected"
    assert (tmp_path / "tool-link.sh").is_symlink()
    target = tmp_path / "bin" / "tool.sh"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert target.read_text(encoding="utf-8") == (
        f"#!/bin/sh\n# \u00e9t\u00e9 \u2603\n# {MARK}\n###RUN###\n")


def test_injector_refuses_and_reports(fi, tmp_path):
    write(tmp_path / "ro.py", "###A###\n", mode=0o444)
    write(tmp_path / "bin.py", b"\x00\x01###A###")
    (tmp_path / "dir.py").mkdir()
    outside = write(tmp_path.parent / f"{tmp_path.name}-outside.py", "###A###\n")
    tasks = [
        {"uuid": "RO0001", "file_path": "ro.py", "placeholder": "A"},
        {"uuid": "BIN001", "file_path": "bin.py", "placeholder": "A"},
        {"uuid": "DIR001", "file_path": "dir.py", "placeholder": "A"},
        {"uuid": "NOF001", "file_path": "missing.py", "placeholder": "A"},
        {"uuid": "TRV001", "file_path": f"../{outside.name}", "placeholder": "A"},
        {"uuid": "ABS001", "file_path": str(outside), "placeholder": "A"},
        {"uuid": "bad id */", "file_path": "ro.py", "placeholder": "A"},
        {"uuid": "NOP001", "file_path": "ro.py", "placeholder": "ZZ"},
    ]
    by_id = {r.task["uuid"]: r for r in make_injector(fi, tmp_path).process(tasks)}
    assert by_id["RO0001"].error_code == "INJECT_FAILED"
    assert by_id["RO0001"].context["reason"] == "read_only"
    assert by_id["BIN001"].context["reason"] == "unsupported_encoding"
    assert by_id["DIR001"].context["reason"] == "not_regular_file"
    assert by_id["NOF001"].error_code == "FILE_NOT_FOUND"
    assert by_id["TRV001"].context["reason"] == "unsafe_path"
    assert by_id["ABS001"].context["reason"] == "unsafe_path"
    assert by_id["bad id */"].context["reason"] == "invalid_task"
    assert by_id["NOP001"].error_code == "PLACEHOLDER_NOT_FOUND"
    assert "###A###" in by_id["NOP001"].context["preview"]
    assert (tmp_path / "ro.py").read_text() == "###A###\n"
    assert outside.read_text() == "###A###\n"


def test_dry_run_injector_changes_nothing(fi, tmp_path):
    target = write(tmp_path / "a.ts", "###A###\n")
    before = target.stat().st_mtime_ns
    injector = fi.Injector(os.path.realpath(tmp_path), dry_run=True)
    results = injector.process([{"uuid": "ABC123", "file_path": "a.ts", "placeholder": "A"}])
    assert results[0].outcome == "injected"
    assert target.read_text() == "###A###\n" and target.stat().st_mtime_ns == before


# -- patches, tasks.json, keys, URLs ------------------------------------------------------


def test_check_patch(fi):
    current = f"a\n# {MARK}\n###KEEP###\nb\n"
    good = "a\n###KEEP###\n###NEW###\nb\n"
    assert fi.check_patch(current, good, ["###KEEP###", "###NEW###"]) is None
    assert "drops placeholder" in fi.check_patch(current, "a\n###NEW###\nb\n",
                                                  ["###KEEP###", "###NEW###"])
    assert "changes or removes" in fi.check_patch(current, "a\n###KEEP###\n###NEW###\nB\n",
                                                  ["###KEEP###"])


def test_match_newlines(fi):
    assert fi.match_newlines("a\nb\n", "x\r\ny\r\n") == "a\r\nb\r\n"
    assert fi.match_newlines("a\nb\n", "x\ny\n") == "a\nb\n"


def test_build_tasks_doc_overlays_queue_and_keeps_local_keys(fi):
    fetched = {"order_id": "O", "factory": "f", "tasks": [
        {"uuid": "A", "status": "pending"}, {"uuid": "B", "status": "blocked"},
        {"uuid": "C", "status": "pending"}]}
    previous = {"tasks": [
        {"uuid": "B", "blocked_reason": "gone", "followup_id": 3},
        {"uuid": "C", "blocked_reason": "stale", "remediation": {"action": "update_file_path"}}]}
    queued = [{"op": "status", "uuid": "A", "status": "complete"}]
    doc = fi.build_tasks_doc(fetched, "http://x", previous, queued)
    by = {t["uuid"]: t for t in doc["tasks"]}
    assert doc["orchestrator_url"] == "http://x"
    assert by["A"]["status"] == "complete"
    assert by["B"]["blocked_reason"] == "gone" and by["B"]["followup_id"] == 3
    assert "blocked_reason" not in by["C"] and by["C"]["remediation"]
    assert fetched["tasks"][0]["status"] == "pending"  # input not mutated


def test_idempotency_key_is_stable_and_tracks_task_versions(fi):
    items = [{"task_uuid": "A", "error_code": "FILE_NOT_FOUND", "file_path": "a"},
             {"task_uuid": "B", "error_code": "PLACEHOLDER_NOT_FOUND", "file_path": "b"}]
    tasks = {"A": {"updated_at": None}, "B": {"updated_at": "t1"}}
    key = fi.idempotency_key("O", items, tasks)
    assert key == fi.idempotency_key("O", list(reversed(items)), tasks)
    assert key != fi.idempotency_key("O", items, {**tasks, "B": {"updated_at": "t2"}})


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
    ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
    ("https://mc.example.dev/api", "https://mc.example.dev"),
    ("https://mc.example.dev/prefix/api/", "https://mc.example.dev/prefix"),
])
def test_normalize_base_url(fi, url, expected):
    assert fi.normalize_base_url(url) == expected


def test_normalize_base_url_rejects_other_schemes(fi):
    with pytest.raises(ValueError):
        fi.normalize_base_url("ftp://x")
    with pytest.raises(ValueError):
        fi.normalize_base_url("127.0.0.1:8787")


def test_tasks_json_format_is_valid_json_one_task_a_line(fi):
    import json
    doc = {"order_id": "O", "tasks": [{"uuid": "A", "instruction": "\u00e9\n"}, {"uuid": "B"}],
           "orchestrator_url": "http://x"}
    data = fi.dump_json(doc)
    assert json.loads(data) == doc
    assert data.decode().count("\n") == 8
    assert json.loads(fi.dump_json({"tasks": []})) == {"tasks": []}
