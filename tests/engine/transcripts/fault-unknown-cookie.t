# fakesrv unknown-cookie: a reply under a cookie the client never used.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:1 u64:1001 u32:24 u64:4096 "0123456789abcdef"
expect state=DEAD cmd=1 err=ENOTCONN
