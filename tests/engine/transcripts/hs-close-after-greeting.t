# The server hangs up right after its greeting.
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:11 u32:0
eof
expect state=DEAD
