"""The one table of fastnbd's public calls.

Every generated entry point, its declaration in libnbd.h, its symbol
version and its man page come from a record here.  A call is added only
once it works.  Implementations live in lib/api as nbdi_<name>, unless the
record names a handle `field` the generator can read or write directly.
"""

from model import *  # noqa: F401,F403  (the table's vocabulary)

ANY = None
CREATED = ["created"]
CREATED_NEGOTIATING = ["created", "negotiating"]
AFTER_NEGOTIATION = ["negotiating", "connected", "closed"]

CALLS = []

# Settings the protocol engine reads live in its configuration, which the
# handle's settings embed (lib/engine/config.h).
ENGINE = "proto."


def call(*args, **kwargs):
    CALLS.append(Call(*args, **kwargs))


def bool_setting(field, since, what, states=CREATED, set_doc="", get_doc="",
                 get_may_fail=False):
    """A boolean handle setting: one set_ and one get_ call."""
    call("set_" + field, [Bool("request")], RErr(), since, states=states,
         field=ENGINE + field, doc="Set whether to %s. %s" % (what, set_doc))
    call("get_" + field, [], RBool() if get_may_fail else RBoolNoErr(), since,
         field=ENGINE + field, doc="Return whether the handle will %s. %s" % (what, get_doc))


# ---- debugging -------------------------------------------------------------

call("set_debug", [Bool("debug")], RErr(), "1.0", field=ENGINE + "debug", doc="""
Turn debug messages on or off for this handle.  Debug messages go to the
debug callback if one is set, otherwise to stderr.  The default is off,
unless the environment variable LIBNBD_DEBUG is exactly "1" when the handle
is created.""")

call("get_debug", [], RBoolNoErr(), "1.0", field=ENGINE + "debug", doc="""
Return whether debug messages are on for this handle.""")

call("set_debug_callback", [Closure("debug_callback", "debug")], RErr(), "1.0",
     doc="""
Send this handle's debug messages to a callback instead of stderr.  The
callback receives the name of the function emitting the message and the
message.  A callback set earlier is released (its .free runs) when it is
replaced, cleared or the handle is closed.  The callback runs with the
handle locked; calls on the same handle from inside it that would wait for
the server are refused.""")

call("clear_debug_callback", [], RErr(), "1.0", doc="""
Remove the debug callback, running its .free, so that debug messages go to
stderr again.  Succeeds when no callback is set.""")

# ---- naming and private data ------------------------------------------------

call("set_handle_name", [String("handle_name")], RErr(), "1.0",
     field="handle_name", doc="""
Give the handle a name of your choosing.  The name prefixes debug messages;
by default handles are named nbd1, nbd2, ... in the order a process creates
them.""")

call("get_handle_name", [], RString(), "1.0", field="handle_name", doc="""
Return a copy of the handle's name, which the caller must free.""")

call("set_private_data", [UIntPtr("private_data")], RUIntPtrNoErr(), "1.8",
     locked=False, doc="""
Store a value of the application's own in the handle (an integer or a
pointer, fastnbd never looks at it) and return the value stored before,
initially 0.""")

call("get_private_data", [], RUIntPtrNoErr(), "1.8", locked=False,
     field="private_data", doc="""
Return the value last stored with nbd_set_private_data, initially 0.""")

# ---- export and negotiation settings ----------------------------------------

call("set_export_name", [String("export_name")], RErr(), "1.0",
     states=CREATED_NEGOTIATING, doc="""
Choose the export to connect to; the default is the empty string, which
servers treat as their default export.  Names longer than the 4096 bytes the
NBD protocol allows are refused with ENAMETOOLONG.  In option mode the name
may still be changed while negotiating, before nbd_opt_go or nbd_opt_info;
a new name forgets what was learned about the previous export (size,
flags, block sizes, names, negotiated meta contexts) until the next
nbd_opt_info or nbd_opt_go.""")

call("get_export_name", [], RString(), "1.0", field=ENGINE + "export_name", doc="""
Return a copy of the export name that will be (or was) requested; the
caller must free it.""")

bool_setting("request_structured_replies", "1.2",
             "ask the server for structured replies during the handshake "
             "(default true)",
             set_doc="Turning this off also prevents meta contexts and "
                     "extended headers from being negotiated.")

bool_setting("request_extended_headers", "1.18",
             "ask the server for 64-bit extended headers during the "
             "handshake (default true)")

bool_setting("request_meta_context", "1.16",
             "send NBD_OPT_SET_META_CONTEXT during nbd_opt_go or "
             "nbd_opt_info when meta contexts were added (default true)",
             states=CREATED_NEGOTIATING, get_may_fail=True)

bool_setting("request_block_size", "1.12",
             "ask the server for its block size constraints with "
             "NBD_INFO_BLOCK_SIZE (default true)",
             states=CREATED_NEGOTIATING, get_may_fail=True)

bool_setting("full_info", "1.4",
             "ask the server for the canonical export name and the export "
             "description during NBD_OPT_GO and NBD_OPT_INFO (default false)",
             states=CREATED_NEGOTIATING, get_may_fail=True)

call("set_handshake_flags", [Flags("flags", "HANDSHAKE_FLAG")], RErr(), "1.2",
     states=CREATED, field=ENGINE + "handshake_flags", doc="""
Limit the handshake flags the client will agree to (any of
LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE and LIBNBD_HANDSHAKE_FLAG_NO_ZEROES).
The default is all of them; clearing bits is meant for testing servers
against older clients.  Unknown bits are refused with EINVAL.  After
connecting, nbd_get_handshake_flags reports what was actually agreed.""")

call("get_handshake_flags", [], RUInt32NoErr(), "1.2",
     doc="""
Return the handshake flags: before connecting, those the client is willing
to use; after the server's greeting, those both sides agreed on.""")

call("set_strict_mode", [Flags("flags", "STRICT")], RErr(), "1.6",
     field=ENGINE + "strict", doc="""
Choose which requests fastnbd refuses on the client side before they reach
the server (LIBNBD_STRICT_COMMANDS, _FLAGS, _BOUNDS, _ZERO_SIZE, _ALIGN,
_PAYLOAD, _AUTO_FLAG).  All are on by default; turning bits off lets tests
send questionable requests to a server.  Unknown bits are refused with
EINVAL.""")

call("get_strict_mode", [], RUInt32NoErr(), "1.6", field=ENGINE + "strict", doc="""
Return the current strictness flags.""")

call("set_opt_mode", [Bool("enable")], RErr(), "1.4", states=CREATED,
     field=ENGINE + "opt_mode", doc="""
When enabled, connecting stops in the negotiating state after the server's
greeting, so the program can list exports and meta contexts with the
nbd_opt_* calls before choosing an export with nbd_opt_go.  Off by
default.""")

call("get_opt_mode", [], RBoolNoErr(), "1.4", field=ENGINE + "opt_mode", doc="""
Return whether option mode is enabled.""")

call("set_pread_initialize", [Bool("request")], RErr(), "1.12",
     field=ENGINE + "pread_initialize", doc="""
Set whether read calls guarantee that the caller's buffer never keeps its
old contents, even when the read fails (default true).  fastnbd keeps the
guarantee cheaply: it clears only the parts of the buffer the server did
not fill.  Turn it off only if the program never looks at the buffer of a
failed read.""")

call("get_pread_initialize", [], RBoolNoErr(), "1.12",
     field=ENGINE + "pread_initialize", doc="""
Return whether read buffers are guaranteed to be initialized.""")

call("set_socket_activation_name", [String("socket_name")], RErr(), "1.16",
     states=CREATED, doc="""
Name the socket passed to a server started by
nbd_connect_systemd_socket_activation: it is then announced in
LISTEN_FDNAMES.  The empty string (the default) announces no name.  The name
must be at most 255 characters of letters, digits, '.', '_' and '-'
(EINVAL otherwise).""")

call("get_socket_activation_name", [], RString(), "1.16",
     field="socket_activation_name", doc="""
Return a copy of the socket activation name (possibly empty); the caller
must free it.""")

# ---- meta contexts -----------------------------------------------------------

call("add_meta_context", [String("name")], RErr(), "1.0",
     states=CREATED_NEGOTIATING, doc="""
Add a metadata context (such as LIBNBD_CONTEXT_BASE_ALLOCATION, or
qemu:dirty-bitmap:NAME) to the list negotiated with the server, which is
empty on a new handle.  Names longer than 4096 bytes are refused with
ENAMETOOLONG, empty names with EINVAL.  After connecting,
nbd_can_meta_context tells whether the server agreed.""")

call("get_nr_meta_contexts", [], RSSizeT(), "1.6", doc="""
Return how many meta contexts have been added to the request list.""")

call("get_meta_context", [SizeT("i")], RString(), "1.6", doc="""
Return a copy of entry i of the meta context request list, which the
caller must free.  An index past the end fails with EINVAL.""")

call("clear_meta_contexts", [], RErr(), "1.6", states=CREATED_NEGOTIATING,
     doc="""
Empty the meta context request list.""")

# ---- TLS settings ------------------------------------------------------------

call("set_tls", [Enum("tls", "TLS")], RErr(), "1.0", states=CREATED,
     field=ENGINE + "tls", doc="""
Choose whether to use TLS: LIBNBD_TLS_DISABLE (the default),
LIBNBD_TLS_ALLOW (use it if the server offers it) or LIBNBD_TLS_REQUIRE
(fail unless it is negotiated).  Other values are refused with EINVAL.""")

call("get_tls", [], REnumNoErr(), "1.0", field=ENGINE + "tls", doc="""
Return the TLS setting chosen with nbd_set_tls.""")

call("set_tls_certificates", [Path("dir")], RErr(), "1.0", states=CREATED,
     field="tls_certificates", doc="""
Name the directory holding the X.509 CA, client certificate and key
(ca-cert.pem, client-cert.pem, client-key.pem).  Without it, the
system's trusted CAs are used.  Only matters when TLS is used.""")

call("set_tls_verify_peer", [Bool("verify")], RErr(), "1.0", states=CREATED,
     doc="""
Set whether the server's certificate is verified when TLS certificates are
used.  By default it is verified when there is a host name to check it
against (a TCP connection, or nbd_set_tls_hostname) and not otherwise, so
that a local server over a Unix socket may use a certificate of its own;
once this is called, its setting applies whatever the transport.""")

call("get_tls_verify_peer", [], RBoolNoErr(), "1.0", field="tls_verify_peer",
     doc="""
Return whether the server's certificate will be verified.""")

call("set_tls_username", [String("username")], RErr(), "1.0", states=CREATED,
     field="tls_username", doc="""
Set the user name presented for TLS pre-shared-key authentication.  The
default is the name of the user running the program.""")

call("get_tls_username", [], RString(), "1.0", doc="""
Return a copy of the TLS user name (the one set, or else the current
user's name); the caller must free it.""")

call("set_tls_psk_file", [Path("filename")], RErr(), "1.0", states=CREATED,
     field="tls_psk_file", doc="""
Name a file of pre-shared keys (lines "username:hexkey") to authenticate
with instead of certificates.  Only matters when TLS is used.""")

call("set_tls_hostname", [String("hostname")], RErr(), "1.22", states=CREATED,
     field="tls_hostname", doc="""
Set the host name checked against the server's certificate, overriding the
one taken from nbd_connect_tcp or the URI.""")

call("get_tls_hostname", [], RString(), "1.22", doc="""
Return a copy of the host name the server's certificate will be checked
against (empty when unknown yet); the caller must free it.""")

call("set_tls_priority", [String("priority")], RErr(), "1.24", states=CREATED,
     doc="""
Set the GnuTLS priority string that selects TLS versions and ciphers.  A
string GnuTLS rejects is refused with EINVAL.""")

call("get_tls_priority", [], RString(), "1.24", doc="""
Return a copy of the TLS priority string in use (the library default,
"NORMAL", unless one was set); the caller must free it.""")

# ---- URI policy --------------------------------------------------------------

call("set_uri_allow_transports", [Flags("mask", "ALLOW_TRANSPORT")], RErr(),
     "1.2", states=CREATED, field="uri_allow_transports", doc="""
Choose which transports an NBD URI may use (LIBNBD_ALLOW_TRANSPORT_TCP,
_UNIX, _VSOCK, _SSH); all by default.  Unknown bits are refused with
EINVAL.""")

call("set_uri_allow_tls", [Enum("tls", "TLS")], RErr(), "1.2", states=CREATED,
     field="uri_allow_tls", doc="""
Choose whether URIs may ask for TLS (nbds://) or must avoid it:
LIBNBD_TLS_ALLOW (the default) permits both, LIBNBD_TLS_DISABLE refuses
TLS URIs and LIBNBD_TLS_REQUIRE refuses plain ones.""")

call("set_uri_allow_local_file", [Bool("allow")], RErr(), "1.2",
     states=CREATED, field="uri_allow_local_file", doc="""
Allow URIs to name local files (tls-certificates, tls-psk-file query
parameters).  Off by default, since a URI may come from an untrusted
source.""")

call("set_uri_allow_tls_priority", [Bool("allow")], RErr(), "1.24",
     states=CREATED, field="uri_allow_tls_priority", doc="""
Allow URIs to set the TLS priority string with the tls-priority query
parameter.  Off by default.""")

# ---- library facts -----------------------------------------------------------

call("get_package_name", [], RStaticStringNoErr(), "1.0", locked=False, doc="""
Return the package name, "libnbd", as programs written for libnbd
expect (see nbd_get_version_extra for fastnbd's own identity).""")

call("get_version", [], RStaticStringNoErr(), "1.0", locked=False, doc="""
Return the libnbd API version this library implements, as
"major.minor.release".""")

call("get_version_extra", [], RStaticStringNoErr(), "1.24", locked=False,
     doc="""
Return extra version information: for fastnbd, its own name and
version.""")

call("get_handle_size", [], RSSizeT(), "1.24", doc="""
Return an estimate of the memory in bytes the handle uses now, including
its buffers and settings.""")

call("supports_tls", [], RBoolNoErr(), "1.0", locked=False, doc="""
Return true: fastnbd is always built with GnuTLS.""")

call("supports_vsock", [], RBoolNoErr(), "1.16", locked=False, doc="""
Return whether this system has AF_VSOCK sockets, so nbd_connect_vsock can
work.""")

call("supports_uri", [], RBoolNoErr(), "1.0", locked=False, doc="""
Return true: fastnbd always parses NBD URIs (with uriparser).""")

# ---- state predicates --------------------------------------------------------

for pred, since, what in [
        ("created", "1.0", "newly created and not yet connecting"),
        ("connecting", "1.0", "connecting or in the handshake; also while an "
                              "option request is running in option mode"),
        ("negotiating", "1.4", "paused in option mode, waiting for an "
                               "nbd_opt_* call"),
        ("ready", "1.0", "connected with no commands in flight"),
        ("processing", "1.0", "connected with commands in flight"),
        ("dead", "1.0", "dead after a fatal error"),
        ("closed", "1.0", "closed after a clean shutdown")]:
    call("aio_is_" + pred, [], RBoolNoErr(), since, locked=False, doc="""
Return whether the handle is %s.""" % what)

call("connection_state", [], RStaticString(), "1.0", doc="""
Return a short description of the handle's state ("created", ...), for
debugging: programs should use the nbd_aio_is_* predicates instead.""")

# ---- connecting ---------------------------------------------------------------

CONNECTS = [
    ("unix", [Path("unixsocket")], "1.0",
     "the NBD server listening on the Unix domain socket unixsocket"),
    ("tcp", [String("hostname"), String("port")], "1.0",
     "hostname:port over TCP, trying every address the name resolves to in "
     "order; when all fail the error is that of the last attempt"),
    ("vsock", [UInt32("cid"), UInt32("port")], "1.2",
     "an AF_VSOCK address (see nbd_supports_vsock)"),
    ("socket", [Fd("sock")], "1.2",
     "an already connected socket; the handle owns it from now on and "
     "closes it"),
    ("command", [StringList("argv")], "1.0",
     "a server started as a subprocess (argv[0] is searched in PATH) that "
     "talks NBD on its stdin and stdout; nbd_close waits for it to exit "
     "(it is never killed)"),
    ("systemd_socket_activation", [StringList("argv")], "1.2",
     "a server started as a subprocess with systemd socket activation: it "
     "receives a listening Unix socket in a private directory as fd 3, with "
     "LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES set"),
]

for kind, args, since, what in CONNECTS:
    call("aio_connect_" + kind, args, RErr(), since, states=CREATED, doc="""
Start connecting to %s, without waiting.  The handshake then proceeds as
the program drives the handle (nbd_aio_notify_read/write, nbd_poll);
nbd_aio_is_connecting turns false when it is over.""" % what)
    call("connect_" + kind, args, RErr(), since, states=CREATED,
         reentrant=False, sync_of=("aio_connect_" + kind, "nbdi_connect_finish"),
         doc="""
Connect to %s and complete the handshake.  In option mode the call
returns once the handle is negotiating; otherwise when it is ready for
commands.  A handle connects only once: a second connect is refused.""" % what)

call("aio_connect", [SockAddr("addr"), SockLen("addrlen")], RErr(), "1.0",
     states=CREATED, doc="""
Start connecting to the socket address addr (any family the kernel
supports) without waiting, then perform the handshake as the program
drives the handle; nbd_aio_is_connecting turns false when it is over.""")

# ---- driving the handle ---------------------------------------------------------

call("aio_get_fd", [], RFd(), "1.0", doc="""
Return the file descriptor of the connection, for the program's own event
loop.  Fails when there is no connection.""")

call("aio_get_direction", [], RUnsignedNoErr(), "1.0", doc="""
Return which events the handle waits for now: LIBNBD_AIO_DIRECTION_READ,
_WRITE, both, or 0.""")

call("aio_notify_read", [], RErr(), "1.0", reentrant=False, doc="""
Tell the handle its file descriptor is readable: it reads and processes
what arrived.""")

call("aio_notify_write", [], RErr(), "1.0", reentrant=False, doc="""
Tell the handle its file descriptor is writable: it sends what is
queued (or finishes a connect in progress).""")

call("poll", [Int("timeout")], RInt(), "1.0", reentrant=False, doc="""
Wait up to timeout milliseconds (-1: forever) for the connection to be
ready in the direction the handle needs, then act on it.  Returns 1 if
something happened, 0 on timeout.""")

call("poll2", [Fd("fd"), Int("timeout")], RInt(), "1.16", reentrant=False, doc="""
Like nbd_poll, but also wakes up when fd becomes readable (pass -1 for no
extra descriptor), so a program can interrupt the wait.""")

# ---- option mode -------------------------------------------------------------------

NEGOTIATING = ["negotiating"]
NULL_COMPLETION_DOC = ("The optional completion callback runs once with the "
                       "outcome (0 or an errno); the option is retired "
                       "whatever it returns.  Only that callback learns "
                       "whether the server refused.")
OPT_WAIT_DOC = ("The call returns once the request is queued; "
                "nbd_aio_is_connecting turns false when the server has "
                "answered.")

# Each row: name, version, arguments, what the option does (shared by both
# twins), then per twin its return kind and, for the sync call, what its
# result means.  The aio call only starts the work: whatever the sync call
# counts reaches the program through the callbacks.
for name, since, args, what, ret, returns, aio_ret in [
        ("go", "1.4", [],
         "finish negotiating and enter transmission with the current export "
         "name (setting requested meta contexts first); on failure the "
         "handle stays negotiating where the server allows",
         RErr(), "", RErr()),
        ("info", "1.4", [],
         "ask the server about the current export (size, flags, block sizes, "
         "and with nbd_set_full_info its canonical name and description) "
         "without leaving negotiation",
         RErr(), "", RErr()),
        ("list", "1.4", [Closure("list_callback", "list")],
         "list the server's exports: the list callback runs once per export "
         "with its name and description",
         RInt(), "the number of exports the server listed", RErr()),
        ("list_meta_context", "1.6", [Closure("context_callback", "context")],
         "ask which meta contexts the server offers for the current export "
         "that match the requested list (all of them when the list is "
         "empty); the callback runs once per context",
         RInt(), "the number of contexts the server listed", RInt()),
        ("list_meta_context_queries", "1.16",
         [StringList("queries"), Closure("context_callback", "context")],
         "ask which meta contexts the server offers for the current export "
         "that match queries (all of them when queries is empty) instead of "
         "the handle's request list; the callback runs once per context",
         RInt(), "the number of contexts the server listed", RInt()),
        ("set_meta_context", "1.16", [Closure("context_callback", "context")],
         "select the requested meta contexts for the current export; the "
         "callback runs once per context the server agreed to",
         RInt(), "the number of contexts the server agreed to", RInt()),
        ("set_meta_context_queries", "1.16",
         [StringList("queries"), Closure("context_callback", "context")],
         "select the meta contexts named by queries (instead of the "
         "handle's request list) for the current export; the callback runs "
         "once per context the server agreed to",
         RInt(), "the number of contexts the server agreed to", RInt()),
]:
    call("opt_" + name, args, ret, since, states=NEGOTIATING, reentrant=False,
         sync_of=("aio_opt_" + name, "nbdi_wait_option_count"
                  if isinstance(ret, RInt) else "nbdi_wait_option_done"),
         returns=returns,
         doc="In option mode, %s.  Waits for the server's answer; a refusal "
             "fails with the server's reason in the error message." % what)
    call("aio_opt_" + name, args + [Closure("completion_callback", "completion",
                                            optional=True)],
         aio_ret, since, states=NEGOTIATING,
         doc="Start, without waiting: %s.  %s%s %s" % (
             what, OPT_WAIT_DOC, " The result is no count: the callback's "
             "calls are the answer." if returns else "", NULL_COMPLETION_DOC))

STARTTLS_FORGETS = """  Once TLS
starts, structured replies, extended headers, the export's facts and meta
contexts negotiated before it are forgotten, on both sides: nbd_opt_go
negotiates afresh."""

for name, since, what in [
        ("structured_reply", "1.16", "structured replies"),
        ("extended_headers", "1.18", "64-bit extended headers"),
        ("starttls", "1.16", "TLS (NBD_OPT_STARTTLS, then the TLS handshake "
                             "with the handle's TLS settings)")]:
    call("opt_" + name, [], RBool(), since, states=NEGOTIATING, reentrant=False,
         returns="1 if they are in use afterwards (also when agreed earlier), "
                 "0 if the server declined", doc="""
In option mode, ask the server for %s, waiting for its answer.%s""" % (
             what, STARTTLS_FORGETS if name == "starttls" else ""))
    call("aio_opt_" + name, [Closure("completion_callback", "completion",
                                     optional=True)], RErr(), since,
         states=NEGOTIATING, doc="""
Start asking the server for %s without waiting.  %s %s""" % (
             what, OPT_WAIT_DOC, NULL_COMPLETION_DOC))

call("opt_abort", [], RErr(), "1.4", states=NEGOTIATING, reentrant=False, doc="""
End negotiation without using an export: send NBD_OPT_ABORT and close,
without waiting for the server's answer (as libnbd).  A server that is not
fixed newstyle cannot be sent NBD_OPT_ABORT: the handle then goes to the
dead state without sending anything, and the call still succeeds.""")

call("aio_opt_abort", [], RErr(), "1.4", states=NEGOTIATING, doc="""
The same as nbd_opt_abort, which does not wait for the server either: the
handle is closed (or dead, if the server is not fixed newstyle) when the
call returns.""")


# ---- negotiated facts --------------------------------------------------------------

for name, flag_doc in [
        ("is_read_only", "the export is read-only"),
        ("can_flush", "the server supports flush"),
        ("can_fua", "the server supports the FUA flag"),
        ("is_rotational", "the server says its storage is rotational"),
        ("can_trim", "the server supports trim"),
        ("can_zero", "the server supports write zeroes"),
        ("can_df", "the server supports the DF flag on structured reads"),
        ("can_multi_conn", "several connections to the export are consistent"),
        ("can_cache", "the server supports cache"),
]:
    call(name, [], RBool(), "1.0", states=AFTER_NEGOTIATION, doc="""
Return whether %s, as the export's flags say.  Fails until the server has
described the export (nbd_opt_info or nbd_opt_go in option mode).""" % flag_doc)

call("can_fast_zero", [], RBool(), "1.2", states=AFTER_NEGOTIATION, doc="""
Return whether the server supports the FAST_ZERO flag on zero requests.""")

call("can_block_status_payload", [], RBool(), "1.18", states=AFTER_NEGOTIATION,
     doc="""
Return whether the server accepts block status requests with a payload
(nbd_block_status_filter); only possible with extended headers.""")

call("can_meta_context", [String("metacontext")], RBool(), "1.0",
     states=AFTER_NEGOTIATION, doc="""
Return whether the server agreed to the meta context named metacontext
for this export.  With no contexts requested (nbd_add_meta_context) the
answer is 0; with some, it fails with EINVAL until a meta context
negotiation for the current export went through (nbd_opt_set_meta_context,
or the one nbd_opt_info, nbd_opt_go and connecting make), export
information or not.""")

call("get_size", [], RInt64(), "1.0", states=AFTER_NEGOTIATION, doc="""
Return the export size in bytes.  A size above INT64_MAX fails with
EOVERFLOW.""")

call("get_block_size", [Enum("size_type", "SIZE")], RInt64(), "1.4",
     states=AFTER_NEGOTIATION, doc="""
Return one of the server's block size constraints (LIBNBD_SIZE_MINIMUM,
_PREFERRED, _MAXIMUM), 0 when the server gave none, or the largest
payload a request may carry (LIBNBD_SIZE_PAYLOAD).""")

call("get_protocol", [], RStaticString(), "1.2", states=AFTER_NEGOTIATION,
     doc="""
Return the handshake style used: "oldstyle", "newstyle" or
"newstyle-fixed".""")

call("get_canonical_export_name", [], RString(), "1.4", states=AFTER_NEGOTIATION,
     doc="""
Return the export's canonical name as the server gave it (with
nbd_set_full_info), else the name that was requested; caller frees.""")

call("get_export_description", [], RString(), "1.4", states=AFTER_NEGOTIATION,
     doc="""
Return the export's description (with nbd_set_full_info); fails with
ENOTSUP when the server sent none.  The caller frees it.""")

call("get_structured_replies_negotiated", [], RBool(), "1.2",
     states=AFTER_NEGOTIATION, doc="""
Return whether structured replies are in use.""")

call("get_extended_headers_negotiated", [], RBool(), "1.18",
     states=AFTER_NEGOTIATION, doc="""
Return whether 64-bit extended headers are in use.""")

call("get_tls_negotiated", [], RBool(), "1.2", states=AFTER_NEGOTIATION, doc="""
Return whether the connection is encrypted with TLS.""")

for what, since in [("bytes_sent", "1.16"), ("chunks_sent", "1.16"),
                    ("bytes_received", "1.16"), ("chunks_received", "1.16")]:
    call("stats_" + what, [], RUInt64NoErr(), since, doc="""
Return the number of %s on this handle's connection so far (a chunk is
one protocol message: request, option, reply or reply chunk).""" % what.replace("_", " "))

# ---- subprocess and ending ------------------------------------------------------------

call("kill_subprocess", [Int("signum")], RErr(), "1.0", doc="""
Send signal signum (0 means SIGTERM) to the server subprocess started by
nbd_connect_command or socket activation.  Fails with ESRCH when there is
none.""")

call("get_subprocess_pid", [], RInt64(), "1.22", doc="""
Return the process id of the server subprocess, or fail with ESRCH.""")

call("shutdown", [Flags("flags", "SHUTDOWN")], RErr(), "1.0",
     states=["negotiating", "connected"], reentrant=False, doc="""
End the connection cleanly.  While negotiating, send NBD_OPT_ABORT and
close at once, as nbd_opt_abort does.  Otherwise send the commands already
queued, then NBD_CMD_DISC, and wait until the server closes its end of the
connection: replies to commands sent before arrive meanwhile, and the
commands the server leaves unanswered fail with ENOTCONN.  With
LIBNBD_SHUTDOWN_ABANDON_PENDING the queued commands not yet sent to the
server are not sent: they fail with ENOTCONN at once; those already sent
still get their replies.  Unknown flags are refused with EINVAL.

Called from a callback running on the same handle, nbd_shutdown fails with
EDEADLK and leaves the connection as it is.  nbd_close(3), which cannot
fail, is ignored when called from such a callback (a debug message says
so): the caller of the callback still uses the handle, so close it
afterwards.  nbd_close runs no completion callback for the options and
commands still in flight: it only calls each closure's .free, once.  It
waits for a server started by nbd_connect_command to exit, without a time
limit and without killing it; a server started by socket activation keeps
listening, so nbd_close stops it with SIGTERM first.""", see_also=["nbd_close",
                                                                 "nbd_opt_abort",
                                                                 "nbd_aio_disconnect"])

call("aio_disconnect", [Flags("flags", "CMD_FLAG", allowed=[], cmd=True)],
     RErr(), "1.0", states=["connected"], doc="""
Queue NBD_CMD_DISC without waiting; no command may be issued afterwards.
Replies to the commands in flight are still read; the handle closes when
the server closes its end, and commands it left unanswered fail with
ENOTCONN.""")

# ---- data commands ----------------------------------------------------------------------

CONNECTED = ["connected"]
COMPLETION = Closure("completion_callback", "completion", optional=True)
RETIRE_DOC = ("The optional completion callback runs once when the reply is "
              "complete, with *error set to the command's outcome (which it may "
              "change); returning 1 retires the command at once, otherwise "
              "retire it with nbd_aio_command_completed.  Returns the command's "
              "cookie.")
CHECKS_DOC = ("Requests the server does not advertise, zero-length, "
              "out-of-bounds or misaligned requests are refused on the client "
              "side as nbd_set_strict_mode selects.")

DATA_CALLS = [
    ("pread", [BufOut("buf"), SizeT("count"), UInt64("offset")], [], "1.0", [],
     "read count bytes at offset into buf.  The buffer is fully written "
     "even when the read fails (see nbd_set_pread_initialize)"),
    ("pread_structured", [BufOut("buf"), SizeT("count"), UInt64("offset"),
                          Closure("chunk_callback", "chunk")], [], "1.0", ["DF"],
     "read count bytes at offset into buf, calling the chunk callback for "
     "each piece the server sends (LIBNBD_READ_DATA, _HOLE or _ERROR)"),
    ("pwrite", [BufIn("buf"), SizeT("count"), UInt64("offset")], [], "1.0",
     ["FUA", "PAYLOAD_LEN"], "write count bytes from buf at offset"),
    ("flush", [], [], "1.0", [], "ask the server to make all completed writes "
     "persistent"),
    ("trim", [UInt64("count"), UInt64("offset")], [], "1.0", ["FUA"],
     "tell the server the range is no longer needed"),
    ("cache", [UInt64("count"), UInt64("offset")], [], "1.0", [],
     "ask the server to prefetch the range"),
    ("zero", [UInt64("count"), UInt64("offset")], [], "1.0",
     ["FUA", "NO_HOLE", "FAST_ZERO"], "write zeroes over the range"),
    ("block_status", [UInt64("count"), UInt64("offset"),
                      Closure("extent_callback", "extent")], [], "1.0", ["REQ_ONE"],
     "ask for the status of the range in each negotiated meta context; the "
     "extent callback receives (length, flags) pairs as 32-bit values"),
    ("block_status_64", [UInt64("count"), UInt64("offset"),
                         Closure("extent64_callback", "extent64")], [], "1.18",
     ["REQ_ONE"], "like nbd_block_status, with 64-bit nbd_extent entries"),
]

for name, args, _, since, flags, what in DATA_CALLS:
    fl = Flags("flags", "CMD_FLAG", allowed=flags, cmd=True)
    # Reads pass their buffer; the sync call is the aio call plus a wait.
    call(name, args + [fl], RErr(), since, states=CONNECTED, reentrant=False,
         sync_of=("aio_" + name, "nbdi_wait_command"),
         doc="Synchronously %s. %s" % (what, CHECKS_DOC))
    call("aio_" + name, args + [COMPLETION, fl], RCookie(), since,
         states=CONNECTED, doc="Start to %s, without waiting. %s %s" % (
             what, RETIRE_DOC, CHECKS_DOC))

call("aio_command_completed", [UInt64("cookie")], RBool(), "1.0", doc="""
Retire a completed command: 1 if it succeeded, -1 with its error if it
failed, 0 if it is still in flight.  A cookie that is unknown or already
retired fails with EINVAL.""")

call("aio_peek_command_completed", [], RInt64(), "1.0", doc="""
Return the cookie of a completed command not yet retired, 0 if none has
completed yet, or fail with EINVAL when nothing is in flight.""")

call("aio_in_flight", [], RInt(), "1.0", states=["connected", "closed", "dead"],
     locked=False, doc="""
Return how many commands have been issued and not yet completed.""")

call("block_status_filter", [UInt64("count"), UInt64("offset"), StringList("contexts"),
                             Closure("extent64_callback", "extent64"),
                             Flags("flags", "CMD_FLAG", allowed=["REQ_ONE", "PAYLOAD_LEN"],
                                   cmd=True)],
     RErr(), "1.18", states=CONNECTED, reentrant=False,
     sync_of=("aio_block_status_filter", "nbdi_wait_command"), doc="""
Like nbd_block_status_64, but the server reports only the named meta
contexts (a subset of those negotiated).  Needs extended headers and a
server that advertises block status payloads (nbd_can_block_status_payload).""")

call("aio_block_status_filter", [UInt64("count"), UInt64("offset"),
                                 StringList("contexts"),
                                 Closure("extent64_callback", "extent64"), COMPLETION,
                                 Flags("flags", "CMD_FLAG",
                                       allowed=["REQ_ONE", "PAYLOAD_LEN"], cmd=True)],
     RCookie(), "1.18", states=CONNECTED, doc="""
Start nbd_block_status_filter without waiting. %s""" % RETIRE_DOC)

# ---- NBD URIs (lib/api/uri.c) ---------------------------------------------------

URI_DOC = """

The URI follows the NBD URI standard: the scheme picks the transport and
TLS (nbd, nbds, nbd+unix, nbds+unix, nbd+vsock, nbds+vsock, nbd+ssh,
nbds+ssh), the authority the server ([user@]host[:port], port 10809 by
default; for +vsock a numeric CID, 2 by default; for +ssh the ssh server
and its port), the path without its leading '/' the export name, and the
query: socket=PATH (required for +unix, optional for +ssh),
tls-certificates=DIR and tls-psk-file=FILE (only after
nbd_set_uri_allow_local_file), tls-hostname=NAME,
tls-verify-peer=true|false and tls-priority=STRING (only after
nbd_set_uri_allow_tls_priority).  A user name in the authority becomes the
TLS user name.  nbds schemes set LIBNBD_TLS_REQUIRE; nbd schemes leave the
TLS setting alone.  Unknown query parameters are ignored.  A URI that
cannot be parsed fails with EINVAL; one the nbd_set_uri_allow_* policy
forbids fails with EPERM, leaving the handle's settings unchanged.  nbd+ssh
runs ssh(1) to the server, where nc(1) reaches the NBD server's socket, or
localhost port 10809."""

call("aio_connect_uri", [String("uri")], RErr(), "1.0", states=CREATED, doc="""
Start connecting to the NBD server and export named by an NBD URI, such as
nbd://example.com/disk or nbd+unix:///disk?socket=/run/nbd.sock, without
waiting for the handshake: nbd_aio_is_connecting turns false when it is
over.""" + URI_DOC)

call("connect_uri", [String("uri")], RErr(), "1.0", states=CREATED,
     reentrant=False, sync_of=("aio_connect_uri", "nbdi_connect_finish"), doc="""
Connect to the NBD server and export named by an NBD URI and complete the
handshake (in option mode, up to the negotiating state).""" + URI_DOC)

call("get_uri", [], RString(), "1.8",
     states=["connecting", "negotiating", "connected", "closed", "dead"], doc="""
Return an NBD URI that should reach the same server and export again, as
a string the caller frees.

The URI is built from the address the program connected to (TCP, Unix
socket or vsock; else the socket's peer address) and the handle's export
name, TLS user name and TLS settings.  Connections made with
nbd_connect_socket or nbd_connect_command, nbd+ssh ones, and those whose
socket no longer knows its peer (a TCP connection the server has closed),
fail with EINVAL; a Unix socket with an empty path fails with
EPROTONOSUPPORT.""")

call("is_uri", [String("uri")], RBool(), "1.22", doc="""
Return whether a string looks like an NBD URI.

Meant for programs that accept either a URI or a file name: true when the
string starts with an NBD scheme (nbd or nbds, optionally followed by +
and a transport name, in any letter case) and a colon.  This is a quick
test: nbd_connect_uri may still refuse the URI.""")

# ---- the calls without a row (lib/api/handle.c, lib/api/errors.c) -------------

# Man pages and conformance rows of spec/constants.py's CORE_CALLS.  err is
# the value returned on error (None: the call cannot fail); errors are
# (errno, when) as Call.errors gives them.
CORE_DOCS = {
    "nbd_create": dict(
        value="a new handle, in the created state with the default settings",
        err="NULL", errors=[("ENOMEM", "there is not enough memory")], doc="""
Create a new handle.  Every other call works on a handle; a new one is not
connected: change its settings, then connect it with one of the
nbd_connect_* or nbd_aio_connect_* calls.  Each handle is used for one
connection only, and is freed with nbd_close.  The environment variable
LIBNBD_DEBUG=1 turns debug messages on for it (nbd_set_debug)."""),
    "nbd_close": dict(
        value="nothing", err=None, errors=[], doc="""
Close a handle and free it.  The connection is closed (call nbd_shutdown
first to end it cleanly), the .free of every callback the handle still
holds runs, a server subprocess is reaped, and the handle must not be used
again.  Passing NULL does nothing.  From a callback running on the same
handle the handle is left alone and the thread's error is set to EDEADLK."""),
    "nbd_get_error": dict(
        value="the message, which the caller must not free, or NULL",
        err=None, errors=[], doc="""
Return the error message of the last failed call in this thread.  It is
NULL when no call has failed in the thread yet.  The message starts with
the name of that call.  Errors are kept per thread, so the message must be
read in the thread that made the call; it stays valid until the next call
in the thread fails."""),
    "nbd_get_errno": dict(
        value="an errno value, or 0", err=None, errors=[], doc="""
Return the errno of the last failed call in this thread.  It is 0 when no
call has failed in the thread yet, or the failure had no errno.  Like
nbd_get_error, it must be read in the thread that made the call."""),
}
