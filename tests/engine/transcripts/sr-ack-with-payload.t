# NBD_REP_ACK with a payload to NBD_OPT_STRUCTURED_REPLY: the protocol
# gives an ACK none, so the handshake fails (libnbd 1.14: "invalid
# NBD_REP_ACK option reply length", for every option).
config sr=1 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:2 0000
expect state=DEAD
