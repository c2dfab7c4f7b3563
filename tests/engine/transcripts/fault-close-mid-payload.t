# fakesrv close-mid-payload: the header and half the data, then EOF.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:1 u64:1 u32:24 u64:4096 "01234567"
eof
expect state=DEAD cmd=1 err=ENOTCONN
