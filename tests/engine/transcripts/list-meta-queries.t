# NBD_OPT_LIST_META_CONTEXT with two queries of the program's own.
config opt_mode=1 sr=1 ext=0 export=e
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
call opt_list_meta base: qemu:dirty-bitmap:x
tx IHAVEOPT u32:9 u32:41 u32:1 "e" u32:2 u32:5 "base:" u32:19 "qemu:dirty-bitmap:x"
rx OPTREPLY u32:9 u32:4 u32:19 u32:0 "base:allocation"
rx OPTREPLY u32:9 u32:4 u32:23 u32:0 "qemu:dirty-bitmap:x"
rx OPTREPLY u32:9 u32:1 u32:0
expect opt_err=0 items=2 state=NEGOTIATING
