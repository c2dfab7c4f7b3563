# Extended headers: BLOCK_STATUS_EXT with a descriptor count and 64-bit
# lengths and flags.
include ready-extended-meta.inc
call block_status64 8192 0
tx EXTREQUEST u16:0 u16:7 u64:1 u64:0 u64:8192
rx EXTREPLY u16:1 u16:6 u64:1 u64:0 u64:40 u32:3 u32:2 u64:4096 u64:0 u64:4096 u64:3
expect cmd=1 err=0 chunks=1:1
