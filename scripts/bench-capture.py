#!/usr/bin/env python3
"""Turns a slice of PostgreSQL's log (log_statement = 'all', log_line_prefix
'[%p] ') into a pgbench script: every statement the portal ran, in order,
with its bound parameters written in as literals. The psql session that
wrote the end marker (`SELECT 'bench-capture-end'`) is left out.

Usage: scripts/bench-capture.py LOGSLICE > page.sql   (used by scripts/bench)
"""

import re
import sys

ENTRY = re.compile(r"^\[(\d+)\] (LOG|DETAIL|ERROR|STATEMENT|HINT|CONTEXT|WARNING|FATAL):\s+(.*)$")
EXECUTE = re.compile(r"^(?:execute [^:]*|statement): (.*)$", re.S)
PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def entries(lines):
    """(pid, level, text) per log entry; continuation lines joined."""
    current = None
    for line in lines:
        m = ENTRY.match(line.rstrip("\n"))
        if m:
            if current:
                yield current
            current = [m.group(1), m.group(2), m.group(3)]
        elif current:
            current[2] += "\n" + line.rstrip("\n")
    if current:
        yield current


def main(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        found = list(entries(f))
    marker = {pid for pid, _, text in found if "bench-capture-end" in text}
    statements = []  # [pid, sql, params]
    for pid, level, text in found:
        if pid in marker:
            continue
        if level == "LOG":
            m = EXECUTE.match(text)
            if m:
                statements.append([pid, m.group(1), {}])
        elif level == "DETAIL" and text.startswith("parameters:") and statements:
            last = statements[-1]
            if last[0] == pid:
                last[2] = {int(n): v for n, v in PARAM.findall(text)}
    if not statements:
        sys.exit(f"{path}: no statements found (is log_statement = 'all' in effect?)")
    for _, sql, params in statements:
        sql = re.sub(r"\$(\d+)", lambda m: params.get(int(m.group(1)), m.group(0)), sql)
        one_line = " ".join(sql.split())
        print(one_line.rstrip(";") + ";")


if __name__ == "__main__":
    main(sys.argv[1])
