# An ERROR chunk (EIO, with a message) fails the command cleanly: the
# connection carries on (fakesrv error-reply).
include ready-structured-meta.inc
call pread_sr 16 0
tx REQUEST u16:0 u16:0 u64:1 u64:0 u32:16
rx STRUCTURED u16:1 u16:32769 u64:1 u32:10 u32:5 u16:4 "oops"
expect cmd=1 err=EIO state=READY
call pread 4 0
tx REQUEST u16:0 u16:0 u64:2 u64:0 u32:4
rx STRUCTURED u16:1 u16:1 u64:2 u32:12 u64:0 "wxyz"
expect cmd=2 err=0 data=2 "wxyz"
