# Plain (not fixed) newstyle: the server offers no flags, so the client
# answers 0 and may send nothing but NBD_OPT_EXPORT_NAME, whose reply
# carries the 124 zero bytes (NO_ZEROES was not agreed).
config export=disk
rx NBDMAGIC IHAVEOPT u16:0
tx u32:0
tx IHAVEOPT u32:1 u32:4 "disk"
expect state=HANDSHAKING
rx u64:65536 u16:0x0003
rx 00*124
expect state=READY protocol=newstyle size=65536 eflags=3 hsflags=0
expect structured=0 extended=0
