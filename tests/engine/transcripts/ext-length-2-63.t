# An extended chunk claiming 2^63 bytes of payload.
include ready-extended-meta.inc
call pread_sr 16 0
tx EXTREQUEST u16:0 u16:0 u64:1 u64:0 u64:16
rx EXTREPLY u16:1 u16:1 u64:1 u64:0 u64:0x8000000000000000
expect state=DEAD
