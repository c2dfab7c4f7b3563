# Extended headers negotiated, but a simple reply comes.
include ready-extended-meta.inc
call flush
tx EXTREQUEST u16:0 u16:3 u64:1 u64:0 u64:0
rx SIMPLE u32:0 u64:1
expect state=DEAD
