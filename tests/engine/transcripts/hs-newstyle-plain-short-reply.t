# Plain newstyle: the EXPORT_NAME reply must include the 124 zero bytes;
# a server hanging up after 10 of them leaves the client dead.
rx NBDMAGIC IHAVEOPT u16:0
tx u32:0
tx IHAVEOPT u32:1 u32:0
rx u64:65536 u16:0x0001 00*10
expect state=HANDSHAKING
eof
expect state=DEAD
