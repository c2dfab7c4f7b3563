# NBD_OPT_INFO acknowledged without NBD_INFO_EXPORT, in option mode: the
# option succeeds (libnbd 1.14 too) and the export stays unknown.
include negotiating.inc
call opt_info
tx IHAVEOPT u32:6 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:6 u32:1 u32:0
expect opt_err=0 state=NEGOTIATING known=0
call opt_abort
tx IHAVEOPT u32:2 u32:0
rx OPTREPLY u32:2 u32:1 u32:0
eof
expect state=CLOSED
