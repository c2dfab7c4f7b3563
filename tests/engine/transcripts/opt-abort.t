# Option mode: NBD_OPT_ABORT, the server's ACK and its hang-up end the
# connection cleanly.
config opt_mode=1 sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
expect state=NEGOTIATING
call opt_abort
tx IHAVEOPT u32:2 u32:0
eof
expect state=CLOSED
