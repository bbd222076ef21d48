"""Counts the tests of one `meson test` run from its testlog.json.

A Criterion executable counts as the tests it ran ("Synthesis: Tested: N |
Passing: P | Failing: F | Crashing: C"); any other test counts as one; a
test that skipped itself (exit status 77: what it needs is not there, and
it said so) counts as skipped. Prints "PASSED FAILED SKIPPED" and exits 1
if anything failed or nothing ran.
"""
import json
import re
import sys

SYNTHESIS = re.compile(
    r"Synthesis: Tested: +(\d+) \| Passing: +(\d+) \| Failing: +(\d+) "
    r"\| Crashing: +(\d+)")


def main(path):
    passed = failed = skipped = 0
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            entry = json.loads(line)
            if entry.get("result") == "SKIP":
                skipped += 1
                continue
            output = (entry.get("stdout") or "") + (entry.get("stderr") or "")
            # EXPECTEDFAIL: a should_fail test that failed as it must.
            ok = entry.get("result") in ("OK", "EXPECTEDFAIL")
            found = SYNTHESIS.findall(output)
            if found:
                _, p, f, c = (int(x) for x in found[-1])
                passed += p
                failed += f + c
                if not ok and f + c == 0:
                    failed += 1  # the executable failed some other way
            elif ok:
                passed += 1
            else:
                failed += 1
    print(passed, failed, skipped)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
