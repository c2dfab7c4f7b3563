# TLS required and the server refuses STARTTLS: no export name may leave
# in plaintext; the client dies.
config tls=require
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:5 u32:0
rx OPTREPLY u32:5 u32:0x80000001 u32:0
expect state=DEAD
