# A NONE chunk with a payload.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:0 u64:1 u32:4 00000000
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN
