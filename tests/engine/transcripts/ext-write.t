# Extended headers: a write carries NBD_CMD_FLAG_PAYLOAD_LEN; success is a
# NONE chunk with DONE.
include ready-extended-meta.inc
call pwrite 8192 0 "data"
tx EXTREQUEST u16:0x0020 u16:1 u64:1 u64:8192 u64:4 "data"
rx EXTREPLY u16:1 u16:0 u64:1 u64:8192 u64:0
expect cmd=1 err=0 state=READY
