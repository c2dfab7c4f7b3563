# NBD_REP_ACK with a 4-byte payload (the protocol gives it none): a
# protocol error.  libnbd 1.14 fails the handshake ("invalid NBD_REP_ACK
# option reply length"); the engine skips the payload and becomes ready.
include go-sent.inc
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:4 00000000
expect state=DEAD
