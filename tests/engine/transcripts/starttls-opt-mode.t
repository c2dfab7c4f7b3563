# In option mode the program asks for STARTTLS itself; the ACK comes in
# one delivery with TLS bytes, of which nothing may be taken.
config opt_mode=1 sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
call opt_starttls
tx IHAVEOPT u32:5 u32:0
rx OPTREPLY u32:5 u32:1 u32:0 1603010200
expect event=TLS unconsumed=5
