# fakesrv bad-error-length: an ERROR chunk whose message length is 100
# more than the chunk holds.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32769 u64:1 u32:10 u32:5 u16:104 "oops"
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN
