# fakesrv block-status-bad-count: a descriptor count one more than the
# chunk's length allows.
include ready-extended-meta.inc
call block_status64 8192 0
tx EXTREQUEST u16:0 u16:7 u64:1 u64:0 u64:8192
rx EXTREPLY u16:1 u16:6 u64:1 u64:0 u64:24 u32:3 u32:2 u64:4096 u64:0
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN chunks=1:0
