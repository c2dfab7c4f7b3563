# Extended headers negotiated, but a compact structured chunk comes.
include ready-extended-meta.inc
call flush
tx EXTREQUEST u16:0 u16:3 u64:1 u64:0 u64:0
rx STRUCTURED u16:1 u16:0 u64:1 u32:0
expect state=DEAD
