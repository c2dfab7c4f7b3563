# Fixed newstyle without NO_ZEROES (the server does not offer it): the
# EXPORT_NAME reply carries 124 zero bytes and the client waits for them.
config sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:1
tx u32:1
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:0x80000001 u32:0
tx IHAVEOPT u32:1 u32:0
rx u64:8192 u16:0x0001 00*100
expect state=HANDSHAKING
rx 00*24
expect state=READY size=8192 eflags=1 hsflags=1
