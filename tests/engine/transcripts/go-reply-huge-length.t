# An option reply header claiming a 1 GiB payload, then the server hangs
# up (fakesrv rep-huge-length): never ready, no crash.
config sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:0x40000000 u16:0 u64:1048576
eof
expect state=DEAD
