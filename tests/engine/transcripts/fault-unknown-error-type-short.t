# An unknown error chunk type whose payload (5 bytes) cannot hold the
# error number and message length every error chunk starts with: a
# protocol error, fatal (libnbd 1.14: "too short length in structured
# reply error", dead).
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32868 u64:1 u32:5 u32:5 00
expect state=DEAD
