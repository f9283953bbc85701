#!/usr/bin/env python3
"""Dependency closure of Debian packages, from a Packages index (for the arm64 guest's userland).

  closure.py PACKAGES_FILE ROOT_PACKAGE...

Reads one Packages index (uncompressed, on stdin when PACKAGES_FILE is "-"), follows Pre-Depends and
Depends of the root packages recursively and prints one "name=version" line per package, sorted.
Of alternatives ("a | b") the first that exists (as a package or as something another package
Provides) is taken, unless one of them is already in the closure. Virtual packages resolve to their
first provider. Version constraints are not checked: the index holds one version per package,
which is the one taken. A dependency nothing provides is an error (exit status 1, named on stderr).
"""
import re
import sys


def parse(text):
    pkgs, provides = {}, {}
    for para in text.split("\n\n"):
        fields, last = {}, None
        for line in para.split("\n"):
            if not line:
                continue
            if line[0] in " \t" and last:
                fields[last] += " " + line.strip()
                continue
            k, _, v = line.partition(":")
            last = k
            fields[k] = v.strip()
        name = fields.get("Package")
        if not name:
            continue
        # Architecture: all and the index's own; keep the first seen
        pkgs.setdefault(name, fields)
        for p in split(fields.get("Provides", "")):
            provides.setdefault(p[0], []).append(name)
    return pkgs, provides


def split(deps):
    """'a (>= 1) | b, c' -> [['a', 'b'], ['c']]"""
    out = []
    for group in deps.split(","):
        alts = [re.sub(r"\(.*?\)|\[.*?\]|<.*?>|:any|:native", "", a).strip() for a in group.split("|")]
        alts = [a for a in alts if a]
        if alts:
            out.append(alts)
    return out


def main():
    src = sys.argv[1]
    text = sys.stdin.read() if src == "-" else open(src, encoding="utf-8", errors="replace").read()
    pkgs, provides = parse(text)
    chosen, todo, missing = {}, list(sys.argv[2:]), []

    def real(name):
        if name in pkgs:
            return name
        for p in provides.get(name, []):
            if p in chosen:
                return p
        return provides.get(name, [None])[0]

    while todo:
        name = todo.pop()
        r = real(name)
        if r is None:
            missing.append(name)
            continue
        if r in chosen:
            continue
        f = pkgs[r]
        chosen[r] = f["Version"]
        for alts in split(f.get("Pre-Depends", "")) + split(f.get("Depends", "")):
            have = [a for a in alts if real(a) in chosen]
            if have:
                continue
            pick = next((a for a in alts if real(a) is not None), None)
            if pick is None:
                missing.append("%s (needed by %s)" % (" | ".join(alts), r))
            else:
                todo.append(pick)
    if missing:
        sys.stderr.write("closure: nothing provides: %s\n" % ", ".join(sorted(set(missing))))
        return 1
    for n in sorted(chosen):
        print("%s=%s" % (n, chosen[n]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
