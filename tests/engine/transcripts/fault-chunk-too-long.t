# fakesrv chunk-too-long: OFFSET_DATA one byte longer than the request.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:1 u64:1 u32:25 u64:4096 "0123456789abcdefX"
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN chunks=1:0
