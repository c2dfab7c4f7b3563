# NBD_OPT_LIST answered by 20 NBD_REP_SERVER replies (some with a
# description after the name), then the ACK: one list callback each.
config opt_mode=1 sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
call opt_list
tx IHAVEOPT u32:3 u32:0
rx OPTREPLY u32:3 u32:2 u32:11 u32:7 "export1"
rx OPTREPLY u32:3 u32:2 u32:11 u32:7 "export2"
rx OPTREPLY u32:3 u32:2 u32:20 u32:7 "export3" "desc of 3"
rx OPTREPLY u32:3 u32:2 u32:11 u32:7 "export4"
rx OPTREPLY u32:3 u32:2 u32:11 u32:7 "export5"
rx OPTREPLY u32:3 u32:2 u32:20 u32:7 "export6" "desc of 6"
rx OPTREPLY u32:3 u32:2 u32:11 u32:7 "export7"
rx OPTREPLY u32:3 u32:2 u32:11 u32:7 "export8"
rx OPTREPLY u32:3 u32:2 u32:20 u32:7 "export9" "desc of 9"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export10"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export11"
rx OPTREPLY u32:3 u32:2 u32:22 u32:8 "export12" "desc of 12"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export13"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export14"
rx OPTREPLY u32:3 u32:2 u32:22 u32:8 "export15" "desc of 15"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export16"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export17"
rx OPTREPLY u32:3 u32:2 u32:22 u32:8 "export18" "desc of 18"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export19"
rx OPTREPLY u32:3 u32:2 u32:12 u32:8 "export20"
expect state=OPT_PENDING items=20
rx OPTREPLY u32:3 u32:1 u32:0
expect state=NEGOTIATING opt_err=0 items=20
