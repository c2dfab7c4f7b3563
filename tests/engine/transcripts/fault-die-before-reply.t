# fakesrv die-before-reply: the server hangs up with a command in flight.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
eof
expect state=DEAD cmd=1 err=ENOTCONN
