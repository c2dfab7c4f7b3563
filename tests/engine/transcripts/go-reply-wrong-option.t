# An option reply naming another option than the one asked.
include go-sent.inc
rx OPTREPLY u32:6 u32:1 u32:0
expect state=DEAD
