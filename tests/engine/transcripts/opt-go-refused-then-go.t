# Option mode: GO refused for one export (ERR_UNKNOWN), still negotiating;
# a second GO succeeds.
config opt_mode=1 sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
call opt_go
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:0x80000006 u32:0
expect opt_err=ENOENT state=NEGOTIATING
call opt_go
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:4096 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:0
expect opt_err=0 state=READY size=4096
