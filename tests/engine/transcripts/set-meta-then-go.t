# A meta context requested with structured replies: SET_META_CONTEXT goes
# before GO, its reply's id is what block status chunks will name.
config sr=1 ext=0 meta=base:allocation
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:10 u32:27 u32:0 u32:1 u32:15 "base:allocation"
rx OPTREPLY u32:10 u32:4 u32:19 u32:7 "base:allocation"
rx OPTREPLY u32:10 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY metas=base:allocation:7 meta_valid=1
