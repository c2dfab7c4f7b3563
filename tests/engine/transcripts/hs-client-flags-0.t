# Handshake flags 0 against a fixed newstyle server: the client behaves
# as plain newstyle, NBD_OPT_EXPORT_NAME only, with the zero padding.
config flags=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:0
tx IHAVEOPT u32:1 u32:0
rx u64:4096 u16:0x0001 00*124
expect state=READY hsflags=0 structured=0
