# fakesrv simple-read-when-structured: structured replies negotiated, a
# read answered by a simple reply with data: a protocol error (libnbd 1.14
# dies too).
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx SIMPLE u32:0 u64:1 "0123456789abcdef"
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN
