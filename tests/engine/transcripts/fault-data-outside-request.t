# fakesrv data-outside-request: OFFSET_DATA at offset+length, just past
# the request.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:1 u64:1 u32:24 u64:4112 "0123456789abcdef"
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN chunks=1:0
