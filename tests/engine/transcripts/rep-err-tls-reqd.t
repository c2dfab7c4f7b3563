# NBD_REP_ERR_TLS_REQD to NBD_OPT_INFO in option mode: the option fails with
# ENOTSUP (lib/engine nbdi_rep_errno), the server's message is kept, and
# the client is still negotiating.
include negotiating.inc
call opt_info
tx IHAVEOPT u32:6 u32:8 u32:0 u16:1 u16:3
expect state=OPT_PENDING
rx OPTREPLY u32:6 u32:0x80000005 u32:6 "no way"
expect opt_err=ENOTSUP server_msg="no way" state=NEGOTIATING
call opt_abort
tx IHAVEOPT u32:2 u32:0
rx OPTREPLY u32:2 u32:1 u32:0
eof
expect state=CLOSED
