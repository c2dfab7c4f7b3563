# fakesrv bad-magic: a reply with a wrong magic number kills the
# connection; the command in flight completes (not successfully).
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx 668e33ee u16:1 u16:1 u64:1 u32:24 u64:4096 "0123456789abcdef"
expect state=DEAD cmd=1 err=ENOTCONN
