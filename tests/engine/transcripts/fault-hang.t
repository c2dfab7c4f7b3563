# fakesrv hang: no reply ever; the command stays in flight and the client
# keeps waiting to read.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
expect state=READY cmd=1 err=pending in_flight=1
