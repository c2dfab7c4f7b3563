# Option mode: listing exports and meta contexts (including the 1.16
# *_queries calls), opt_info, opt_set_meta_context, opt_go, the aio forms
# and opt_abort, against nbdkit serving two named exports.
import nbd
from nbdtest import Nbdkit

ARGS = ["--filter=exportname", "memory", "1M", "exportname-list=explicit",
        "exportname=a", "exportname=b", "exportdesc=fixed:a disk",
        "exportname-strict=true"]

with Nbdkit(ARGS) as srv:
    h = nbd.NBD()
    h.set_opt_mode(True)
    assert h.get_opt_mode() is True
    h.connect_uri(srv.uri)
    assert h.aio_is_negotiating()

    exports = []
    n = h.opt_list(lambda name, desc: exports.append((name, desc)))
    assert n == 2 and sorted(exports) == [("a", "a disk"), ("b", "a disk")], exports

    # The aio form of a listing, with a completion callback, on a second
    # handle (nbdkit answers one NBD_OPT_LIST per connection).
    ha = nbd.NBD()
    ha.set_opt_mode(True)
    ha.connect_unix(srv.sock)
    again, outcome = [], []
    ha.aio_opt_list(lambda name, desc: again.append(name),
                    completion=lambda err: outcome.append(err.value))
    while ha.aio_is_connecting():
        ha.poll(-1)
    assert sorted(again) == ["a", "b"] and outcome == [0], (again, outcome)
    ha.opt_abort()

    contexts = []
    n = h.opt_list_meta_context(lambda name: contexts.append(name))
    assert n == len(contexts) and "base:allocation" in contexts, contexts

    queried = []
    n = h.opt_list_meta_context_queries(["base:"], queried.append)
    assert n == 1 and queried == ["base:allocation"], queried
    assert h.opt_list_meta_context_queries(["nosuch:"], queried.append) == 0

    h.set_export_name("b")
    h.set_full_info(True)
    h.opt_info()
    assert h.get_size() == 1 << 20
    assert h.get_export_description() == "a disk"
    assert h.get_canonical_export_name() == "b"

    chosen = []
    assert h.opt_set_meta_context_queries(["base:allocation"], chosen.append) == 1
    assert chosen == ["base:allocation"]

    assert h.opt_structured_reply() is True
    h.opt_go()
    assert h.aio_is_ready() and h.get_export_name() == "b"
    assert h.can_meta_context("base:allocation")
    h.pwrite(b"x", 0)
    h.shutdown()

    # opt_abort ends negotiation without an export.
    h2 = nbd.NBD()
    h2.set_opt_mode(True)
    h2.connect_unix(srv.sock)
    h2.opt_abort()
    assert h2.aio_is_closed()

    # A refused option fails with the server's reason; the handle goes on
    # negotiating.
    h3 = nbd.NBD()
    h3.set_opt_mode(True)
    h3.connect_unix(srv.sock)
    h3.set_export_name("nosuch")
    try:
        h3.opt_go()
        raise AssertionError("opt_go of an unknown export succeeded")
    except nbd.Error as ex:
        assert ex.string.startswith("nbd_opt_go: "), ex
    assert h3.aio_is_negotiating()
    h3.set_export_name("a")
    h3.opt_go()
    assert h3.aio_is_ready()
    for handle in (h, h2, h3):
        handle.close()
print("ok")
