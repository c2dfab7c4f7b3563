# NBD_OPT_LIST_META_CONTEXT with no queries, answered by 12 contexts
# (id 0, as listing requires) and the ACK: one context callback each;
# nothing becomes the negotiated set.
config opt_mode=1 sr=1 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
expect state=NEGOTIATING structured=1
call opt_list_meta
tx IHAVEOPT u32:9 u32:8 u32:0 u32:0
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns1:ctx1"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns2:ctx2"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns3:ctx3"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns4:ctx4"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns5:ctx5"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns6:ctx6"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns7:ctx7"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns8:ctx8"
rx OPTREPLY u32:9 u32:4 u32:12 u32:0 "ns9:ctx9"
rx OPTREPLY u32:9 u32:4 u32:14 u32:0 "ns10:ctx10"
rx OPTREPLY u32:9 u32:4 u32:14 u32:0 "ns11:ctx11"
rx OPTREPLY u32:9 u32:4 u32:14 u32:0 "ns12:ctx12"
rx OPTREPLY u32:9 u32:1 u32:0
expect state=NEGOTIATING opt_err=0 items=12 opt_count=12
expect metas=
