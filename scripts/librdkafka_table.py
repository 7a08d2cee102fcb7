#!/usr/bin/env python3
"""Writes the librdkafka test suite's results table into docs/compatibility.md.

Usage: librdkafka_table.py LIST RESULTS TEST_C DOC
  LIST     tests/librdkafka/tests.list (entries, whether CI runs them, why not)
  RESULTS  results.txt of a run of scripts/librdkafka_tests.sh (ENTRY@SCENARIO RESULT SECONDS [NOTE])
  TEST_C   the suite's tests/test.c, for the names of the tests behind each number
  DOC      the markdown file; the table replaces what lies between its two marker lines
"""

import re
import sys

START = "<!-- librdkafka-table:start -->"
END = "<!-- librdkafka-table:end -->"


def test_names(test_c):
    """Test number -> {scenario: [names]} for the tests that talk to a broker."""
    text = open(test_c).read()
    table = text[text.index("struct test tests[] = {"):]
    table = table[: table.index("\n};")]
    names = {}
    for part in re.split(r"\n\s*_TEST\(", table)[1:]:
        name = part.split(",")[0].strip()
        body = " ".join(part.split())
        if "TEST_F_LOCAL" in body or "TEST_F_MANUAL" in body:
            continue
        scenario = "noautocreate" if "noautocreate" in body else "default"
        names.setdefault(name[:4], {}).setdefault(scenario, []).append(name)
    return names


def main(list_path, results_path, test_c, doc_path):
    names = test_names(test_c)
    results = {}
    for line in open(results_path):
        fields = line.split(None, 3)
        if len(fields) >= 3:
            results[fields[0]] = (fields[1], fields[2], fields[3].strip() if len(fields) > 3 else "")
    rows = []
    counts = {"pass": 0, "fail": 0, "out": 0}
    for line in open(list_path):
        if line.startswith("#") or not line.strip():
            continue
        entry, scenario, on, _seconds, *why = line.split(None, 4)
        number, _, subtest = entry.partition(":")
        tests = ", ".join(names.get(number, {}).get(scenario, [number]))
        part = f" (sub-tests matching `{subtest.replace('+', ' ')}`)" if subtest else ""
        label = f"{tests}{part}" + (f", scenario {scenario}" if scenario != "default" else "")
        if on == "yes":
            result, seconds, note = results.get(f"{entry}@{scenario}", ("not run", "", ""))
            counts["pass" if result == "PASS" else "fail"] += 1
            rows.append(f"| {label} | {result.lower()} | {seconds} | {note} |")
        else:
            counts["out"] += 1
            rows.append(f"| {label} | left out | | {why[0].strip() if why else ''} |")
    table = [
        f"{counts['pass']} entries pass, {counts['fail']} do not, {counts['out']} are left out.",
        "",
        "| Test | Result | Seconds | Notes, or why it is left out |",
        "|---|---|---|---|",
        *rows,
    ]
    doc = open(doc_path).read()
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    open(doc_path, "w").write(head + START + "\n" + "\n".join(table) + "\n" + END + tail)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
