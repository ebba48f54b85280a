"""
Fail unless each wheel given is portable to every Linux pbfast supports:
``auditwheel show`` finds it consistent with manylinux_2_17 (glibc 2.17,
manylinux2014) or an older tag, and needing no shared library outside the
policy's list (no ``libgcc_s``: the unwinder is linked in). Run by .ci/run.
"""

from __future__ import annotations

import re
import subprocess
import sys

MOST_GLIBC = (2, 17)


def check(wheel: str) -> list[str]:
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", wheel],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = " ".join(shown.split())
    problems = []
    tag = re.search(r'consistent with the following platform tag: "manylinux_(\d+)_(\d+)_', text)
    if tag is None:
        problems.append("no manylinux tag")
    elif (int(tag.group(1)), int(tag.group(2))) > MOST_GLIBC:
        problems.append(f"needs glibc {tag.group(1)}.{tag.group(2)}")
    if "external shared libraries" in text or "libgcc_s" in text:
        problems.append("needs shared libraries outside the policy")
    glibc = [tuple(map(int, found)) for found in re.findall(r"GLIBC_(\d+)\.(\d+)", text)]
    if glibc and max(glibc) > MOST_GLIBC:
        problems.append(f"references GLIBC_{max(glibc)[0]}.{max(glibc)[1]}")
    return [f"{wheel}: {problem}\n{shown}" for problem in problems]


if __name__ == "__main__":
    failures = [problem for wheel in sys.argv[1:] for problem in check(wheel)]
    for failure in failures:
        print(failure, file=sys.stderr)
    if not sys.argv[1:]:
        print("no wheel given", file=sys.stderr)
    print(f"{len(sys.argv) - 1} wheel(s) checked: " + ("FAILED" if failures else "portable"))
    sys.exit(1 if failures or not sys.argv[1:] else 0)
