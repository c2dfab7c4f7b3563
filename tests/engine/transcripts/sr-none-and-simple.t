# Structured replies: a NONE chunk with DONE answers a flush; a simple
# reply is still allowed for commands without data (trim).
include ready-structured-meta.inc
call flush
tx REQUEST u16:0 u16:3 u64:1 u64:0 u32:0
rx STRUCTURED u16:1 u16:0 u64:1 u32:0
expect cmd=1 err=0
call trim 4096 0
tx REQUEST u16:0 u16:4 u64:2 u64:0 u32:4096
rx SIMPLE u32:0 u64:2
expect cmd=2 err=0 state=READY
