# STARTTLS agreed: the ACK arrives together with the first bytes of the
# server's TLS records.  The client must take exactly the ACK and
# nothing past it (those bytes belong to TLS), tell the driver, and
# after the TLS handshake negotiate again from scratch.
config tls=require sr=1 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:5 u32:0
rx OPTREPLY u32:5 u32:1 u32:0 160303007a020000760303
expect event=TLS unconsumed=11 state=HANDSHAKING
call tls_done
expect tls=1
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY tls=1 structured=1
