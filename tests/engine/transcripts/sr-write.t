# A write sends its header and payload; a simple reply completes it.
include ready-structured-meta.inc
call pwrite 512 0 "hello"
tx REQUEST u16:0 u16:1 u64:1 u64:512 u32:5 "hello"
rx SIMPLE u32:0 u64:1
expect cmd=1 err=0
call disc
tx REQUEST u16:0 u16:2 u64:2 u64:0 u32:0
eof
expect state=CLOSED
