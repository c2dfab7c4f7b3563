#!/usr/bin/env python3
"""The generated man pages state libnbd 1.24's contract.

usage: manpages.py SOURCE-ROOT MAN-DIR CONTRACT-TSV

CONTRACT-TSV (tests/api/libnbd-contract.tsv) holds, per call, the handle
states and the return kind its libnbd 1.24 man page gives.  Checks that

  - every call of the table has a page in MAN-DIR with the sections NAME,
    SYNOPSIS, DESCRIPTION, RETURN VALUE, ERRORS, VERSION and SEE ALSO, and
    HANDLE STATE exactly when the call is limited to some states, naming
    those states;
  - RETURN VALUE states the call's own return kind, ERRORS says how the
    call fails (or that it cannot), including the state errnos;
  - an aio call never claims what its sync twin returns: neither the
    twin's kind (nbd_aio_opt_list returns 0, nbd_opt_list a count) nor
    the twin's account of its result appears on the aio page, and no
    sentence of the aio page says the call returns a number or count;
  - an aio page says how completion is reported: nbd_aio_is_connecting
    and the completion callback for option calls, nbd_aio_is_connecting
    for connects, nbd_aio_command_completed for commands;
  - spec/api.py gives every call the kind and states of CONTRACT-TSV, so
    a page cannot be right by accident of wording.
MAN-DIR may be any build's man directory, so the check runs on old builds.
"""

import os
import re
import sys

# What RETURN VALUE must say for each kind of CONTRACT-TSV, in words.
KIND_WORDS = {
    "err": "returns 0.",
    "int": "integer \u2265 0",
    "int64": "64-bit signed integer \u2265 0",
    "size": "count \u2265 0",
    "cookie": "cookie, \u2265 1",
    "fd": "file descriptor",
    "bool": "boolean",
    "string": "caller must free",
    "static-string": "must not free",
    "bool-nofail": "boolean",
    "enum-nofail": "constants",
    "uint32-nofail": "bit mask",
    "bitmask-nofail": "bit mask",
    "uint64-nofail": "unsigned 64-bit",
    "uintptr-nofail": "uintptr_t",
    "static-string-nofail": "must not free",
    "handle": "new handle",
    "void-nofail": "returns nothing",
    "message-nofail": "must not free",
    "errno-nofail": "errno",
}

# spec/api.py's return classes, as kinds of CONTRACT-TSV.
SPEC_KINDS = {
    "RErr": "err", "RInt": "int", "RInt64": "int64", "RSSizeT": "size",
    "RCookie": "cookie", "RFd": "fd", "RBool": "bool", "RString": "string",
    "RStaticString": "static-string", "RBoolNoErr": "bool-nofail",
    "REnumNoErr": "enum-nofail", "RUInt32NoErr": "uint32-nofail",
    "RUnsignedNoErr": "bitmask-nofail", "RUInt64NoErr": "uint64-nofail",
    "RUIntPtrNoErr": "uintptr-nofail",
    "RStaticStringNoErr": "static-string-nofail",
}

REQUIRED = ["NAME", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS",
            "VERSION", "SEE ALSO"]
STATE_WORDS = ["created", "connecting", "negotiating", "connected", "closed",
               "dead"]


def read_contract(path):
    contract = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, states, kind = line.rstrip("\n").split("\t")
            contract[name] = (None if states == "any" else states.split(","),
                              kind)
    return contract


def plain(troff):
    """The text of a troff fragment as a reader sees it, in one line."""
    out = []
    for line in troff.split("\n"):
        if line.startswith((".B ", ".I ")):
            line = line[3:]
        elif line.startswith("."):
            continue
        out.append(line.replace("\\-", "-").replace("\\(>=", "\u2265")
                   .replace("\\&", "").replace("\\\\", "\\"))
    return re.sub(r"\s+", " ", " ".join(out)).strip()


def sections(path):
    with open(path) as f:
        text = f.read()
    parts = re.split(r"^\.SH (.+)$", text, flags=re.M)
    return {parts[i].strip('"'): plain(parts[i + 1])
            for i in range(1, len(parts), 2)}


def sentences(text):
    return [s for s in re.split(r"(?<=[.;])\s+", text) if s]


def check_page(name, page, states, kind, problems):
    def bad(what):
        problems.append("%s(3): %s" % (name, what))

    for s in REQUIRED:
        if s not in page:
            bad("no %s section" % s)
    if states is None and "HANDLE STATE" in page:
        bad("HANDLE STATE section for a call allowed in any state")
    if states is not None:
        text = page.get("HANDLE STATE")
        if text is None:
            bad("no HANDLE STATE section; the call is limited to %s"
                % ", ".join(states))
        else:
            found = [w for w in STATE_WORDS if re.search(r"\b%s\b" % w, text)]
            if found != [w for w in STATE_WORDS if w in states]:
                bad("HANDLE STATE names %s, libnbd says %s"
                    % (found, states))
    ret = page.get("RETURN VALUE", "")
    if KIND_WORDS[kind] not in ret:
        bad("RETURN VALUE does not say %r (%s): %r"
            % (KIND_WORDS[kind], kind, ret))
    errors = page.get("ERRORS", "")
    if kind.endswith("-nofail"):
        if "cannot fail" not in errors:
            bad("ERRORS does not say the call cannot fail")
    else:
        err = "NULL" if kind in ("string", "static-string", "handle") else "-1"
        if "returns %s" % err not in errors:
            bad("ERRORS does not say the call returns %s" % err)
        if states is not None:
            wanted = ["EINVAL"] + ([] if "created" in states else ["ENOTCONN"])
            for e in wanted:
                if e not in errors:
                    bad("ERRORS does not name %s for the wrong state" % e)


def twin_claims(sync_page):
    """What the sync page says its result means, beyond the kind."""
    ret = sync_page.get("RETURN VALUE", "")
    m = re.search(r"returns [^:]*: (.*?)\.?$", ret)
    return m.group(1) if m else None


def check_aio(name, page, sync, sync_page, kind, sync_kind, problems):
    def bad(what):
        problems.append("%s(3): %s" % (name, what))

    whole = " ".join(page.values())
    ret = page.get("RETURN VALUE", "")
    if sync_kind != kind and KIND_WORDS[sync_kind] in ret \
            and KIND_WORDS[sync_kind] not in KIND_WORDS[kind]:
        bad("RETURN VALUE claims the %s return of %s: %r"
            % (sync_kind, sync, ret))
    claim = twin_claims(sync_page)
    if claim and claim in whole:
        bad("repeats what %s returns: %r" % (sync, claim))
    for s in sentences(whole):
        if re.search(r"\breturns?\b.*\b(number|count)\b", s):
            bad("says it returns a number: %r" % s)
def check_completion(name, page, kind, problems):
    desc = page.get("DESCRIPTION", "")
    if name.startswith("nbd_aio_opt_") and name != "nbd_aio_opt_abort":
        needs = ["nbd_aio_is_connecting", "completion callback"]
    elif name.startswith("nbd_aio_connect"):
        needs = ["nbd_aio_is_connecting"]
    elif kind == "cookie":
        needs = ["nbd_aio_command_completed"]
    else:
        needs = []
    for n in needs:
        if n not in desc:
            problems.append("%s(3): DESCRIPTION does not say how completion "
                            "is reported (%s)" % (name, n))


def check_spec(root, contract, problems):
    sys.dont_write_bytecode = True
    sys.path[:0] = [os.path.join(root, "gen"), os.path.join(root, "spec")]
    import api  # noqa: E402  (spec/api.py)
    names = set()
    for c in api.CALLS:
        name = "nbd_" + c.name
        names.add(name)
        if name not in contract:
            problems.append("spec/api.py: %s is no libnbd call" % name)
            continue
        states, kind = contract[name]
        mine = SPEC_KINDS.get(type(c.ret).__name__)
        if mine != kind:
            problems.append("spec/api.py: %s returns %s (%s), libnbd %s"
                            % (name, type(c.ret).__name__, mine, kind))
        if c.states != states:
            problems.append("spec/api.py: %s is allowed in %s, libnbd %s"
                            % (name, c.states, states))
    names.update(api.CORE_DOCS)
    for name in sorted(set(contract) - names):
        problems.append("spec/api.py lacks %s" % name)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    root, mandir, contract_file = sys.argv[1:]
    contract = read_contract(contract_file)
    problems = []
    check_spec(root, contract, problems)
    pages = {}
    for name in sorted(contract):
        path = os.path.join(mandir, name + ".3")
        if not os.path.exists(path):
            problems.append("%s(3): no page in %s" % (name, mandir))
            continue
        pages[name] = sections(path)
    for name, page in pages.items():
        states, kind = contract[name]
        check_page(name, page, states, kind, problems)
        if name.startswith("nbd_aio_"):
            check_completion(name, page, kind, problems)
            sync = "nbd_" + name[len("nbd_aio_"):]
            if sync in pages:
                check_aio(name, page, sync, pages[sync], kind,
                          contract[sync][1], problems)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("%d pages state libnbd's contract; spec/api.py agrees" % len(pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
