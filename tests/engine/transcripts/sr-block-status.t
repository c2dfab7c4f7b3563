# Block status with base:allocation: one BLOCK_STATUS chunk naming the
# context id the server gave; the extent callback gets the context name.
include ready-structured-meta.inc
call block_status 65536 0
tx REQUEST u16:0 u16:7 u64:1 u64:0 u32:65536
rx STRUCTURED u16:1 u16:5 u64:1 u32:20 u32:9 u32:32768 u32:0 u32:32768 u32:3
expect cmd=1 err=0 chunks=1:1
