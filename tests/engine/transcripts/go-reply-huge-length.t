# An option reply header claiming a 1 GiB payload, then the server hangs
# up (fakesrv rep-huge-length): never ready, no crash.
include go-sent.inc
rx OPTREPLY u32:7 u32:3 u32:0x40000000 u16:0 u64:1048576
eof
expect state=DEAD
