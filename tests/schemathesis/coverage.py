"""Per-operation coverage of a schemathesis run, from the calls hooks.py
recorded: one row per operation of the spec with the number of calls and
the status codes seen. Exits 1 if any operation got no 2xx answer (its
core logic was never reached).

    python coverage.py SPEC_URL CALLS.jsonl    # the spec the run tested
"""

import json
import sys
import urllib.request
from collections import Counter, defaultdict

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

spec_url, calls_path = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(spec_url, timeout=30) as response:
    spec = json.load(response)
operations = [
    f"{m.upper()} {path}"
    for path, item in spec["paths"].items()
    for m in METHODS
    if m in item
]

statuses: dict[str, Counter] = defaultdict(Counter)
other_methods: Counter = Counter()  # probes with a method the operation does not have
with open(calls_path, encoding="utf-8") as f:
    for line in f:
        call = json.loads(line)
        if call["method"].upper() == call["operation"].split(" ", 1)[0]:
            statuses[call["operation"]][call["status"]] += 1
        else:
            other_methods[call["status"]] += 1

width = max(len(op) for op in operations)
print(f"{'operation':<{width}}  {'calls':>5}  {'2xx':>4}  status codes (count)")
missing = []
for op in operations:
    seen = statuses.get(op, Counter())
    ok = sum(n for code, n in seen.items() if 200 <= code < 300)
    codes = " ".join(f"{code}({n})" for code, n in sorted(seen.items()))
    flag = "" if ok else "   <-- no 2xx"
    print(f"{op:<{width}}  {sum(seen.values()):>5}  {ok:>4}  {codes}{flag}")
    if not ok:
        missing.append(op)
unknown = sorted(set(statuses) - set(operations))
for op in unknown:  # e.g. requests to methods the spec does not list
    print(f"{op:<{width}}  {sum(statuses[op].values()):>5}     -  (not in the spec)")
total = sum(sum(c.values()) for c in statuses.values())
probes = " ".join(f"{code}({n})" for code, n in sorted(other_methods.items()))
print(
    f"{len(operations) - len(missing)} of {len(operations)} operations answered 2xx at least once; {total} calls"
)
print(
    f"plus {sum(other_methods.values())} calls with undocumented methods: {probes or '-'}"
)
if missing:
    print(
        f"no 2xx for {len(missing)} operation(s): " + ", ".join(missing),
        file=sys.stderr,
    )
    sys.exit(1)
