# TLS allowed, not required: a server refusing STARTTLS (ERR_POLICY)
# leaves a plaintext connection.
config tls=allow sr=1 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:5 u32:0
rx OPTREPLY u32:5 u32:0x80000002 u32:0
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:512 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY tls=0 size=512
