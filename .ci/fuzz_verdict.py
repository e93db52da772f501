"""Reads schemathesis's JUnit report of one run: exit 0 when it holds no failure (a server error or a failed check)
and its only errors are schemathesis's own trouble drawing cases from the schema, which say nothing about the API;
these are listed. Anything else (a failure, or any other error) exits 1."""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# Raised inside schemathesis/Hypothesis (or CPython's ast module under Hypothesis) while generating data.
GENERATION_TROUBLE = (
    "Inconsistent results",
    "FailedHealthCheck",
    "Failed Health Check",
    "AST constructor recursion depth mismatch",
)


def main(report_dir: str) -> int:
    reports = list(Path(report_dir).glob("*.xml"))
    if not reports:
        print(f"no JUnit report in {report_dir}")
        return 1
    verdict = 0
    for report in reports:
        for case in ET.parse(report).getroot().iter("testcase"):
            name = case.get("name")
            if case.findall("failure"):
                verdict = 1
            for error in case.findall("error"):
                text = f"{error.get('message') or ''}\n{error.text or ''}"
                if any(sign in text for sign in GENERATION_TROUBLE):
                    print(f"schemathesis could not draw all its cases for {name} (its own error, not the API's)")
                else:
                    print(f"error on {name}: {text.strip()[:300]}")
                    verdict = 1
    return verdict


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
