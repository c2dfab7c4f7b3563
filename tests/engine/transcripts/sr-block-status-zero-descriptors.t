# A BLOCK_STATUS chunk with no descriptor: a protocol error: the connection dies and the
# command in flight completes with ENOTCONN.
include ready-structured-meta.inc
call block_status 4096 0
tx REQUEST u16:0 u16:7 u64:1 u64:0 u32:4096
rx STRUCTURED u16:1 u16:5 u64:1 u32:4 u32:9
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN
