# An OFFSET_HOLE chunk of 8 bytes (it must be 12).
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:2 u64:1 u32:8 u64:4096
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN
