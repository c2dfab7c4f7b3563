# Option mode: NBD_OPT_ABORT, the server's ACK and its hang-up end the
# connection cleanly.
include negotiating.inc
call opt_abort
tx IHAVEOPT u32:2 u32:0
eof
expect state=CLOSED
