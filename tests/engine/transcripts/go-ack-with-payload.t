# NBD_REP_ACK with a 4-byte payload (the protocol gives it none): the
# client skips the payload and goes on.
include go-sent.inc
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:4 00000000
expect state=READY unconsumed=0
