# The server never answers the option (fakesrv rep-hang): the client
# keeps waiting, still handshaking, until the server hangs up.
config sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
expect state=HANDSHAKING
eof
expect state=DEAD
