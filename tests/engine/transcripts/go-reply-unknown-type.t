# A non-error reply type the client does not know (5) to NBD_OPT_GO.
include go-sent.inc
rx OPTREPLY u32:7 u32:5 u32:0
expect state=DEAD
