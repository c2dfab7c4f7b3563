# After the STARTTLS ACK (taken alone), the engine is in the TLS
# handshake phase: the driver runs TLS on the raw stream, so the engine
# must plan no receive at all; bytes arriving then stay with the driver.
config opt_mode=1 sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
call opt_starttls
tx IHAVEOPT u32:5 u32:0
rx OPTREPLY u32:5 u32:1 u32:0
expect event=TLS unconsumed=0
rx 1603010200
expect event=TLS unconsumed=5 state=OPT_PENDING
