# Extended headers negotiated, but a 32-bit BLOCK_STATUS chunk comes.
include ready-extended-meta.inc
call block_status64 8192 0
tx EXTREQUEST u16:0 u16:7 u64:1 u64:0 u64:8192
rx EXTREPLY u16:1 u16:5 u64:1 u64:0 u64:12 u32:3 u32:8192 u32:0
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN
